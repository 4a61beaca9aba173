//! `kirim-xray sandbox --summary URL`: what a running sandbox holds, in a few `key=value` lines
//! that a script can read without a JSON tool (`make demo` uses it): photos held, photos held
//! twice, and the image bytes received per endpoint.

use std::collections::HashMap;

use anyhow::Context;
use serde::Deserialize;

#[derive(Deserialize)]
struct State {
    records: Vec<RecordState>,
    #[serde(default)]
    image_bytes_received: HashMap<String, u64>,
}

#[derive(Deserialize)]
struct RecordState {
    photos: Vec<PhotoState>,
}

#[derive(Deserialize)]
struct PhotoState {
    #[serde(rename = "namaFile")]
    nama_file: String,
}

/// The summary lines of the sandbox at `url` (its base URL, as it printed it).
pub fn summary(url: &str) -> anyhow::Result<String> {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .context("cannot build an HTTP client")?;
    let state_url = format!("{}/__sandbox/state", url.trim_end_matches('/'));
    let state: State = client
        .get(&state_url)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .with_context(|| format!("cannot read {state_url}"))?;
    Ok(render(&state))
}

fn render(state: &State) -> String {
    let mut held = 0usize;
    let mut twice = 0usize;
    for record in &state.records {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for photo in &record.photos {
            *seen.entry(photo.nama_file.as_str()).or_default() += 1;
        }
        held += record.photos.len();
        twice += seen.values().filter(|n| **n > 1).count();
    }
    let bytes = |endpoint: &str| {
        state
            .image_bytes_received
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    };
    format!(
        "records={}\nphotos_held={held}\nphotos_held_twice={twice}\nimage_bytes_kirim={}\nimage_bytes_add={}\n",
        state.records.len(),
        bytes("kirim"),
        bytes("add")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_photos_held_twice_once_per_name() {
        let state: State = serde_json::from_value(serde_json::json!({
            "records": [
                {"photos": [{"namaFile": "a"}, {"namaFile": "b"}, {"namaFile": "a"}, {"namaFile": "a"}]},
                {"photos": [{"namaFile": "a"}]}
            ],
            "image_bytes_received": {"kirim": 10, "add": 5}
        }))
        .unwrap();
        assert_eq!(
            render(&state),
            "records=2\nphotos_held=5\nphotos_held_twice=1\nimage_bytes_kirim=10\nimage_bytes_add=5\n"
        );
    }
}
