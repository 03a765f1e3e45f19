//! First-launch hints: an example client command for the loaded script, on
//! the port the window really listens on.

/// The command a user can paste to connect to the script: the first client
/// command named in the script's comments (the bundled examples name one,
/// e.g. `websocat 'ws://127.0.0.1:4001/?name=ann'`) with its address replaced
/// by `url`'s, or a plain `websocat` to `url`.
pub fn example_client_command(script_text: &str, url: &str) -> String {
    let url = url.trim_end_matches('/');
    let commented = script_text
        .lines()
        .map(str::trim_start)
        .filter_map(|line| line.strip_prefix("//"))
        .map(str::trim)
        .find(|line| line.contains("ws://"));
    let Some(command) = commented else {
        return format!("websocat '{url}/'");
    };
    let Some(start) = command.find("ws://") else {
        return format!("websocat '{url}/'");
    };
    // The address runs to the first '/', quote or space after `ws://`.
    let rest = &command[start + "ws://".len()..];
    let address_len = rest
        .find(|c: char| c == '/' || c == '\'' || c == '"' || c.is_whitespace())
        .unwrap_or(rest.len());
    format!("{}{url}{}", &command[..start], &rest[address_len..])
}

/// The command a user can paste to go through the proxy at `url` (its
/// path and query go on to the target).
pub fn proxy_client_command(url: &str) -> String {
    format!("websocat '{}/'", url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_own_command_gets_the_real_port() {
        let chat = "// Chat room.\n//\n//   websocat 'ws://127.0.0.1:4001/?name=ann'\nimport x;";
        assert_eq!(
            example_client_command(chat, "ws://127.0.0.1:50123"),
            "websocat 'ws://127.0.0.1:50123/?name=ann'"
        );
        assert_eq!(
            example_client_command("export {};", "ws://127.0.0.1:4001"),
            "websocat 'ws://127.0.0.1:4001/'"
        );
    }

    #[test]
    fn a_proxy_is_connected_to_at_its_own_url() {
        assert_eq!(
            proxy_client_command("ws://127.0.0.1:50123/"),
            "websocat 'ws://127.0.0.1:50123/'"
        );
    }
}
