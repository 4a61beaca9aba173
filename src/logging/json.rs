//! `--log-format json`: one JSON object per line, for a log shipper (journald, Loki, ELK). The
//! fields of the spans an event happens in (the row being processed: `row`, `nomorAju`) are
//! flattened into it next to the event's own (`endpoint`, `status`, `duration_ms`...), so that
//! every line about a row can be found by its row or its nomorAju without parsing the message.
//! JSON strings escape control characters themselves, so a cell cannot forge a line here either;
//! secrets never reach a field (`Secret` prints as `***`).

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The fields a span has been given so far.
struct SpanFields(Map<String, Value>);

/// Collects fields as JSON values. The API's own word `nomorAju` is used for the field the code
/// calls `nomor_aju`.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Collect<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "nomor_aju" => "nomorAju",
            name => name,
        };
        self.0.insert(name.to_string(), value);
    }
}

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

/// A layer writing each event as one JSON line to `W`.
pub struct JsonLayer<W> {
    writer: W,
}

impl<W> JsonLayer<W> {
    pub fn new(writer: W) -> Self {
        JsonLayer { writer }
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // Spans are shared by the layers: the first JSON layer (stderr or run.log) to see the
        // span collects its fields for both.
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<SpanFields>().is_none() {
            let mut fields = Map::new();
            attrs.record(&mut Collect(&mut fields));
            extensions.insert(SpanFields(fields));
        }
    }

    /// (Each JSON layer records the new values: the second time changes nothing.)
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            values.record(&mut Collect(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    line.extend(fields.clone());
                }
            }
        }
        event.record(&mut Collect(&mut line));
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        // A line that cannot be written cannot be logged either.
        let _ = self.writer.make_writer().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::FileSink;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn a_line_carries_the_fields_of_its_row_and_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        let sink = FileSink::default();
        *sink.0.lock().unwrap() = Some(std::fs::File::create(&path).unwrap());
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(sink));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "row",
                row = 7,
                nomorAju = "AJU\n1",
                status = tracing::field::Empty
            );
            let _in = span.enter();
            tracing::info!(
                endpoint = "kirim",
                status = 200u64,
                duration_ms = 12u64,
                "answered"
            );
            span.record("status", "MATCH");
            tracing::info!(nomor_aju = "AJU\n1", "done\u{1b}[2J");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["row"], 7);
        assert_eq!(lines[0]["nomorAju"], "AJU\n1");
        assert_eq!(lines[0]["endpoint"], "kirim");
        assert_eq!(lines[0]["status"], 200, "the event's own field wins");
        assert_eq!(lines[0]["duration_ms"], 12);
        assert_eq!(lines[0]["message"], "answered");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[1]["status"], "MATCH", "recorded on the span later");
        assert_eq!(lines[1]["nomorAju"], "AJU\n1");
        assert!(!lines[1].as_object().unwrap().contains_key("nomor_aju"));
        assert_eq!(text.lines().count(), 2, "{text:?}");
        assert!(
            !text.lines().any(|l| l.chars().any(char::is_control)),
            "{text:?}"
        );
    }
}
