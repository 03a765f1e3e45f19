//! The timeline's bounds, filters and lifecycle lines.

use super::*;

fn text(value: &str) -> EntryBody {
    EntryBody::Frame(Payload::Text(value.into()))
}

#[test]
fn drops_the_oldest_rows_beyond_the_limit_and_counts_them() {
    let mut timeline = Timeline::new(TimelineLimits {
        max_entries: 3,
        max_payload_bytes: usize::MAX,
    });
    for index in 0..5 {
        timeline.push(Utc::now(), None, Direction::In, text(&index.to_string()));
    }
    assert_eq!(timeline.len(), 3);
    assert_eq!(timeline.dropped(), 2);
    assert_eq!(
        timeline.visible(0).map(|entry| entry.preview(10)),
        Some("2".to_owned())
    );
    assert_eq!(timeline.by_seq(1).map(|entry| entry.seq), None);
}

#[test]
fn per_connection_history_follows_drops() {
    let mut timeline = Timeline::new(TimelineLimits {
        max_entries: 3,
        max_payload_bytes: usize::MAX,
    });
    let (ann, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for (index, who) in [ann, bob, ann, ann].into_iter().enumerate() {
        timeline.push(
            Utc::now(),
            Some(who),
            Direction::In,
            text(&index.to_string()),
        );
    }
    assert_eq!(timeline.connection_len(&ann), 2);
    assert_eq!(
        timeline
            .connection_entry(&ann, 0)
            .map(|entry| entry.preview(5)),
        Some("2".to_owned())
    );
    assert_eq!(timeline.connection_len(&bob), 1);
}

#[test]
fn payload_byte_limit_is_enforced() {
    let mut timeline = Timeline::new(TimelineLimits {
        max_entries: 100,
        max_payload_bytes: 10,
    });
    for _ in 0..5 {
        timeline.push(Utc::now(), None, Direction::In, text("abcd"));
    }
    assert!(timeline.payload_bytes() <= 10);
    assert_eq!(timeline.len(), 2);
}

#[test]
fn filter_applies_to_old_and_new_rows() {
    let mut timeline = Timeline::new(TimelineLimits::default());
    let ann = uuid::Uuid::new_v4();
    timeline.push(Utc::now(), Some(ann), Direction::In, text("Hello"));
    timeline.push(Utc::now(), Some(ann), Direction::Out, text("world"));
    timeline.push(
        Utc::now(),
        None,
        Direction::Lifecycle,
        EntryBody::Lifecycle("connected".into()),
    );
    timeline
        .set_filter(TimelineFilter {
            text: "hello".into(),
            ..TimelineFilter::default()
        })
        .expect("plain text filter");
    assert_eq!(timeline.visible_len(), 1);
    timeline.push(Utc::now(), Some(ann), Direction::Out, text("hello again"));
    assert_eq!(timeline.visible_len(), 2);

    timeline
        .set_filter(TimelineFilter {
            connection_id: Some(ann),
            direction: DirectionFilter::Out,
            text: "^w.r".into(),
            is_regex: true,
        })
        .expect("regex filter");
    assert_eq!(timeline.visible_len(), 1);
    assert!(
        timeline
            .set_filter(TimelineFilter {
                text: "(".into(),
                is_regex: true,
                ..TimelineFilter::default()
            })
            .is_err()
    );
    assert_eq!(
        timeline.visible_len(),
        1,
        "a bad regex keeps the old filter"
    );
}

#[test]
fn missed_rows_always_show() {
    let mut timeline = Timeline::new(TimelineLimits::default());
    timeline
        .set_filter(TimelineFilter {
            direction: DirectionFilter::In,
            ..TimelineFilter::default()
        })
        .expect("filter");
    timeline.push(Utc::now(), None, Direction::Lifecycle, EntryBody::Missed(7));
    assert_eq!(timeline.visible_len(), 1);
}
