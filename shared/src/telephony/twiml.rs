//! The few TwiML documents Switchboard answers Twilio with. Every value is
//! XML-escaped: numbers, URLs and tokens come from requests and settings.

use quick_xml::escape::escape;

use super::MediaStream;

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Streams the call's audio both ways to `stream_url` (the relay's
/// `/ws/media/twilio`), with `parameters` as the stream's `customParameters`
/// (Twilio passes them in the `start` message, not in the URL).
pub fn connect_stream(stream_url: &str, parameters: &[(&str, &str)]) -> String {
    let params: String = parameters
        .iter()
        .map(|(name, value)| {
            format!(
                r#"<Parameter name="{}" value="{}"/>"#,
                escape(*name),
                escape(*value)
            )
        })
        .collect();
    format!(
        r#"{HEAD}<Response><Connect><Stream url="{}">{params}</Stream></Connect></Response>"#,
        escape(stream_url)
    )
}

/// Streams a call to the relay's `/ws/media/twilio`, with the call and its
/// token as the stream's parameters (for an outbound call and an inbound
/// one alike).
pub fn relay_stream(stream: &MediaStream) -> String {
    connect_stream(
        &format!("{}/ws/media/twilio", stream.relay_url),
        &[("call_id", &stream.call_id), ("token", &stream.token)],
    )
}

/// Says `text` and hangs up (a call Switchboard cannot take).
pub fn say_and_hang_up(text: &str) -> String {
    format!(
        "{HEAD}<Response><Say>{}</Say><Hangup/></Response>",
        escape(text)
    )
}

/// An empty answer: nothing for Twilio to do (an inbound SMS whose
/// replies go out through the Messages API).
pub fn empty() -> String {
    format!("{HEAD}<Response/>")
}

/// Connects the caller to `number` (a transfer to a person).
pub fn dial(number: &str) -> String {
    format!("{HEAD}<Response><Dial>{}</Dial></Response>", escape(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_escape_what_they_carry() {
        let xml = connect_stream(
            "wss://relay.example.com/ws/media/twilio",
            &[("call_id", "c1"), ("token", r#"a"<&>b"#)],
        );
        assert!(xml.starts_with(HEAD), "{xml}");
        assert!(
            xml.contains(r#"<Connect><Stream url="wss://relay.example.com/ws/media/twilio"><Parameter name="call_id" value="c1"/>"#),
            "{xml}"
        );
        assert!(xml.contains("a&quot;&lt;&amp;&gt;b"), "{xml}");
        assert_eq!(
            say_and_hang_up("<Play>x</Play>"),
            format!("{HEAD}<Response><Say>&lt;Play&gt;x&lt;/Play&gt;</Say><Hangup/></Response>")
        );
        assert!(dial("+15005550006").contains("<Dial>+15005550006</Dial>"));
        assert_eq!(empty(), format!("{HEAD}<Response/>"));
    }
}
