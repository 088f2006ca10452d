//! What machines read: the JSON line of an event on stdout (`--message-format json`).

use crate::output::Event;

/// One event as the line it is on stdout, newline included.
pub fn event_line(event: &Event) -> String {
    let mut line = serde_json::to_string(event).expect("events serialize");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::event;

    #[test]
    fn event_json_shape() {
        let e = Event::Error(event::RunError {
            message: "bad".into(),
        });
        let line = event_line(&e);
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["event"], "error");
        assert!(v["image"].is_null() && v["variant"].is_null());
        assert!(v.get("digest").is_none());
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
