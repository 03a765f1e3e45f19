//! The session format's reader and writer on valid and broken files.

use super::*;

const HEADER: &str = r#"{"format":"sockscope.session","version":1,"created":"2026-11-27T23:00:00Z","source":"recorded"}"#;

fn parse(body: &str) -> Result<Session, SessionError> {
    parse_session(&format!("{HEADER}\n{body}"), "s.jsonl")
}

#[test]
fn a_proxy_header_names_its_target_and_older_headers_have_none() {
    let old = parse("").expect("a header without target");
    assert_eq!(old.header.target, None);
    let mut header = Header::new("proxy");
    header.target = Some("wss://chat.example.com/ws".to_owned());
    let line = serde_json::to_string(&header).expect("JSON");
    assert!(
        line.contains(r#""target":"wss://chat.example.com/ws""#),
        "{line}"
    );
    let read: Header = serde_json::from_str(&line).expect("read back");
    assert_eq!(read, header);
    let plain = serde_json::to_string(&Header::new("recorded")).expect("JSON");
    assert!(!plain.contains("target"), "{plain}");
}

#[test]
fn reads_the_design_example() {
    let session = parse(concat!(
        r#"{"t":0,"conn":"c1","ev":"connect","path":"/","query":{"token":["abc"]}}"#,
        "\n",
        r#"{"t":2,"conn":"c1","ev":"accepted","id":"6f1c"}"#,
        "\n",
        r#"{"t":15,"conn":"c1","ev":"send","text":"hello"}"#,
        "\n",
        r#"{"t":20,"conn":"c1","ev":"send","binary":"aGVsbG8="}"#,
        "\n",
        r#"{"t":31,"conn":"c1","ev":"close","code":1000,"by":"client"}"#,
        "\n",
    ))
    .expect("valid");
    assert_eq!(session.lines.len(), 5);
    assert_eq!(
        session.lines[3].event,
        SessionEvent::Send(Frame::Binary(b"hello".to_vec()))
    );
    assert!(session.warnings.is_empty());
}

#[test]
fn written_lines_read_back() {
    let mut out = Vec::new();
    let mut writer = SessionWriter::new(&mut out, &Header::new("recorded")).expect("write");
    let line = SessionLine {
        t: 7,
        conn: "c1".into(),
        event: SessionEvent::Connect {
            path: "/chat".into(),
            query: Query::from([("name".to_owned(), vec!["ann".to_owned()])]),
        },
    };
    writer.write_line(&line).expect("write");
    let session = parse_session(&String::from_utf8(out).expect("utf8"), "x").expect("read");
    assert_eq!(session.lines, vec![line]);
}

#[test]
fn errors_name_file_line_and_problem() {
    let error = parse(concat!(
        r#"{"t":0,"conn":"c1","ev":"connect","path":"/"}"#,
        "\n{not json\n",
        r#"{"t":1,"conn":"c1","ev":"send","text":"x"}"#,
        "\n"
    ))
    .expect_err("bad JSON in the middle");
    let message = error.to_string();
    assert!(message.starts_with("s.jsonl:3: bad event:"), "{message}");

    let error = parse(concat!(
        r#"{"t":0,"conn":"c1","ev":"connect","path":"/"}"#,
        "\n",
        r#"{"t":1,"conn":"c1","ev":"sned","text":"x"}"#,
        "\n",
        r#"{"t":2,"conn":"c1","ev":"send","text":"x"}"#,
    ))
    .expect_err("unknown event");
    assert!(error.to_string().contains("s.jsonl:3:"), "{error}");
    assert!(error.to_string().contains("sned"), "{error}");

    let error = parse(concat!(
        r#"{"t":1,"conn":"c2","ev":"send","text":"x"}"#,
        "\n",
        r#"{"t":2,"conn":"c1","ev":"connect","path":"/"}"#,
    ))
    .expect_err("send before connect");
    assert_eq!(
        error.to_string(),
        "s.jsonl:2: event for c2 before its \"connect\""
    );
}

#[test]
fn header_problems_are_named() {
    let error = parse_session(
        r#"{"format":"sockscope.session","version":2,"created":"x","source":"recorded"}"#,
        "v2.jsonl",
    )
    .expect_err("version 2");
    assert_eq!(
        error.to_string(),
        "v2.jsonl:1: unsupported session version 2 (this sockscope reads version 1)"
    );
    let error = parse_session(r#"{"format":"other"}"#, "o.jsonl").expect_err("format");
    assert!(
        error.to_string().contains("not a sockscope session"),
        "{error}"
    );
    let error = parse_session("\n\n", "e.jsonl").expect_err("empty");
    assert!(
        error.to_string().starts_with("e.jsonl:1: empty file"),
        "{error}"
    );
    let error = parse_session("[1,", "j.jsonl").expect_err("not JSON");
    assert!(
        error
            .to_string()
            .starts_with("j.jsonl:1: header is not JSON"),
        "{error}"
    );
}

#[test]
fn a_torn_last_line_is_a_warning() {
    let session = parse(concat!(
        r#"{"t":0,"conn":"c1","ev":"connect","path":"/"}"#,
        "\n",
        r#"{"t":1,"conn":"c1","ev":"se"#,
    ))
    .expect("torn last line tolerated");
    assert_eq!(session.lines.len(), 1);
    assert_eq!(session.warnings.len(), 1);
    assert!(
        session.warnings[0].starts_with("s.jsonl:3: torn last line ignored"),
        "{:?}",
        session.warnings
    );
}

#[test]
fn a_frame_needs_exactly_one_body() {
    let error = parse(concat!(
        r#"{"t":0,"conn":"c1","ev":"connect","path":"/"}"#,
        "\n",
        r#"{"t":1,"conn":"c1","ev":"send","text":"a","binary":"YQ=="}"#,
        "\n",
        r#"{"t":2,"conn":"c1","ev":"send","text":"a"}"#,
    ))
    .expect_err("both bodies");
    assert!(error.to_string().contains("not both"), "{error}");
}
