//! Fuzz target: the parser of the API's answers (`api/answer.rs`), on any HTTP status and any
//! body: well-formed envelopes with fields of every JSON type, broken JSON, gateway pages.
//! The parser's module is private to the API client, so it is compiled here once more, beside
//! the names it imports from its parent, and called as the client calls it.

#![allow(dead_code)]

pub use crate::api::{ApiError, ServerPhoto, ServerRecord, UploadAnswer, UploadOk};

mod pacer {
    pub use crate::api::pacer::MAX_PAUSE;
}

// The second build of the parser's file is deliberate: its own module is private to the client.
#[allow(clippy::duplicate_mod)]
#[path = "../api/answer.rs"]
mod parser;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::fuzz;

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("200")),
        Just(Value::from("404")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("namaFile".to_string()),
                    Just("waktuRekam".to_string()),
                    Just("detail".to_string()),
                    Just("totalFotoTerupload".to_string()),
                    Just("npwpPemberitahu".to_string()),
                    "[a-zA-Z]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body: an API envelope with fields of any type, or any text.
fn body() -> impl Strategy<Value = String> {
    let code = prop_oneof![
        Just(json!(200)),
        Just(json!(404)),
        Just(json!(409)),
        Just(json!(500)),
        json_value(),
    ];
    let detail = prop::collection::vec(
        (".{0,20}", prop::option::of(".{0,20}"))
            .prop_map(|(n, w)| json!({"namaFile": n, "waktuRekam": w})),
        0..4,
    );
    let data = prop_oneof![
        json_value(),
        (detail, json_value(), json_value()).prop_map(|(d, total, npwp)| json!({
            "nomorAju": "A", "detail": d, "totalFotoTerupload": total, "npwpPemberitahu": npwp,
            "jumlahFotoTerupload": total,
        })),
    ];
    let envelope = (json_value(), data, code, json_value())
        .prop_map(|(success, data, code, m)| {
            json!({"success": success, "data": data, "code": code, "message": m}).to_string()
        })
        .boxed();
    prop_oneof![
        envelope.clone(),
        // Cut short: a connection dropped mid-body.
        (envelope, any::<prop::sample::Index>()).prop_map(|(e, at)| {
            let cut = at.index(e.len() + 1);
            e.char_indices()
                .map(|(i, _)| i)
                .take_while(|i| *i <= cut)
                .last()
                .map_or(String::new(), |i| e[..i].to_string())
        }),
        ".{0,200}",
        Just("<html><body><h1>504 Gateway Time-out</h1></body></html>".to_string()),
    ]
}

#[test]
fn fuzz_api_answers() {
    let strategy = (any::<bool>(), 100u16..600, body());
    fuzz("api-answers", 256, strategy, |(is_kirim, status, body)| {
        let upload = parser::upload_answer(is_kirim, status, &body);
        let get = parser::get_answer(status, &body);
        // Server errors are unclear (an API 5xx, or a gateway's page), never a verdict; a get
        // 404 is "no data" when the API says so, a gateway fault otherwise, never a record.
        if status >= 500 {
            prop_assert!(upload.as_ref().is_err_and(ApiError::is_ambiguous));
            prop_assert!(get.as_ref().is_err_and(ApiError::is_ambiguous));
        }
        if status == 404 {
            let no_data_or_gateway = matches!(get, Ok(None) | Err(ApiError::Gateway { .. }));
            prop_assert!(no_data_or_gateway);
        }
        let _ = parser::server_message(&body);
        Ok(())
    });
}
