//! Tests on the rendered page: escaping of hostile manifest values, the charts, the attention
//! section, the photo evidence, well-formedness, self-containment and linear size.

use std::collections::BTreeSet;

use super::*;
use crate::model::{ImageResult, RowFields, SentIn};
use crate::report::journal::tests::sample;
use crate::report::summary::tests::info;

/// A row as a real run would record it: three photos with full digests.
fn synthetic(row: usize, status: RowStatus) -> RowResult {
    let mut r = sample(row);
    r.status = status;
    r.fields = RowFields {
        nomor_aju: format!("0123456789012345000{row:05}20261120CNTESTXRAY{row}CN1"),
        nomor_bl_awb: format!("CNTESTXRAY{row}"),
        tanggal_bl_awb: "2026-11-20".into(),
        kode_kantor: "040300".into(),
        folder: format!("images/CNTESTXRAY{row}"),
    };
    r.message = "3 photos sent in 1 request".into();
    r.missing_on_server.clear();
    r.images = (1..=3)
        .map(|i| ImageResult {
            file: format!("CNTESTXRAY{row}-0{i}.jpg"),
            bytes: 123_456 + i as u64,
            sha256: format!("{:064x}", row * 10 + i),
            content_type: "image/jpeg".into(),
            sent_in: SentIn::Kirim,
            sent_at: r.started_at,
            on_server: Some(true),
            server_waktu_rekam: Some("2026-11-20 10:00:00".into()),
        })
        .collect();
    r
}

fn page(rows: &[RowResult]) -> String {
    render(&Summary::build(&info(), rows), rows)
}

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in the page"))
        + start.len();
    let len = html[from..]
        .find(end)
        .unwrap_or_else(|| panic!("{end} after {start}"));
    &html[from..from + len]
}

const VOID: [&str; 4] = ["meta", "br", "hr", "wbr"];
const KNOWN: [&str; 35] = [
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "div", "p", "nav", "a",
    "table", "thead", "tbody", "tr", "th", "td", "span", "b", "code", "br", "details", "summary",
    "svg", "g", "rect", "text", "hr", "wbr", "i", "small", "ul", "li",
];

/// Every element is known and closed in order (void elements and `/>` excepted); the content of
/// `<style>` is skipped. Returns the number of elements, per name.
fn check_tags(html: &str) -> std::collections::BTreeMap<String, usize> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        let gt = rest.find('>').expect("every < has its >");
        let tag = &rest[..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name, "</{name}> closes <{open}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(KNOWN.contains(&name.as_str()), "unexpected element <{tag}>");
        *seen.entry(name.clone()).or_insert(0) += 1;
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" {
            let end = rest.find("</style>").expect("style is closed");
            rest = &rest[end + "</style>".len()..];
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "never closed: {stack:?}");
    seen
}

#[test]
fn hostile_manifest_values_are_escaped_everywhere() {
    let evil = "<script>alert('x')</script>\"&amp";
    let mut row = synthetic(2, RowStatus::Mismatch);
    row.fields.nomor_aju = format!("AJU{evil}");
    row.fields.nomor_bl_awb = evil.into();
    row.fields.tanggal_bl_awb = evil.into();
    row.fields.kode_kantor = evil.into();
    row.fields.folder = format!("dir/{evil}");
    row.action = evil.into();
    row.message = format!("server said {evil}");
    row.missing_on_server = vec![format!("m{evil}.png")];
    row.extra_on_server = vec![format!("x{evil}.png")];
    row.npwp_pemberitahu = Some(evil.into());
    row.images[0].file = format!("a&b\"{evil}.png");
    row.images[0].content_type = evil.into();
    row.images[0].server_waktu_rekam = Some(evil.into());
    let rows = vec![row];
    let mut i = info();
    i.note = Some(evil.into());
    i.run_dir = format!("runs/{evil}").into();
    i.manifest.path = format!("{evil}.csv").into();
    i.previous_run = Some(format!("runs/{evil}").into());
    i.rows_selected = Some(evil.into());
    let html = render(&Summary::build(&i, &rows), &rows);

    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "no script element"
    );
    let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;amp";
    assert!(
        html.contains("a&amp;b&quot;&lt;script&gt;"),
        "file name escaped"
    );
    // note, run folder (title, header), manifest, previous run, selection, nomorAju (twice),
    // nomorBlAwb (twice), date, office, folder, action (twice), message (twice), missing and
    // extra (twice each), npwp, file, content type, waktuRekam: all there, escaped.
    assert!(
        html.matches(escaped).count() >= 24,
        "{}",
        html.matches(escaped).count()
    );
    check_tags(&html);
}

#[test]
fn control_characters_do_not_reach_the_page() {
    assert_eq!(
        escape("a\u{0}b\u{1b}[31m\tc\nd"),
        "a\u{FFFD}b\u{FFFD}[31m\tc\nd"
    );
    assert_eq!(escape("a\rb"), "a&#13;b", "no raw carriage return");
    assert_eq!(escape("plain"), "plain");
    assert_eq!(escape("ünïcödé & <"), "ünïcödé &amp; &lt;");
}

#[test]
fn the_status_chart_shows_every_status_with_its_count_and_colour() {
    let mut rows = vec![
        synthetic(2, RowStatus::Match),
        synthetic(3, RowStatus::Match),
        synthetic(4, RowStatus::NotFound),
    ];
    rows[2].images.clear();
    let html = page(&rows);
    let svg = between(&html, "aria-label=\"rows per status\"", "</svg>");
    for status in RowStatus::ALL {
        let n = match status {
            RowStatus::Match => 2,
            RowStatus::NotFound => 1,
            _ => 0,
        };
        assert!(
            svg.contains(&format!(">{status}</text>")),
            "{status} labelled"
        );
        assert!(
            svg.contains(&format!("fill=\"{}\"", colour(status))),
            "{status} coloured"
        );
        let label_then_count = format!(">{status}</text><rect x=\"{}\"", super::charts::LABEL_W);
        let after = &svg[svg.find(&label_then_count).unwrap()..];
        let count = between(after, "font-weight=\"bold\">", "</text>");
        assert_eq!(count, n.to_string(), "{status}");
    }
    let photos = between(
        &html,
        "aria-label=\"photos local, sent and on server\"",
        "</svg>",
    );
    for label in ["local", "sent", "on server"] {
        assert!(photos.contains(&format!(">{label}</text>")), "{label}");
    }
    // Two SVG charts, each well formed (checked with the whole page).
    let tags = check_tags(&html);
    assert_eq!(tags["svg"], 2);
    assert_eq!(tags["rect"], RowStatus::ALL.len() + 3);
}

#[test]
fn attention_lists_exactly_the_rows_that_did_not_match() {
    let statuses = [
        RowStatus::Match,
        RowStatus::Mismatch,
        RowStatus::Match,
        RowStatus::NotFound,
        RowStatus::Invalid,
        RowStatus::Failed,
        RowStatus::Skipped,
        RowStatus::Match,
    ];
    let rows: Vec<RowResult> = statuses
        .iter()
        .enumerate()
        .map(|(i, s)| synthetic(i + 2, *s))
        .collect();
    let html = page(&rows);
    let section = between(&html, "<h2 id=\"attention\">", "<h2 id=\"rows\">");
    assert!(
        section.starts_with("Rows needing attention (5)"),
        "{section}"
    );
    let listed: Vec<usize> = section
        .split("<tr data-row=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![3, 5, 6, 7, 8],
        "non-MATCH rows, in manifest order"
    );
    for n in &listed {
        assert!(
            section.contains(&format!("<a href=\"#row-{n}\">")),
            "row {n} links down"
        );
        assert!(
            html.contains(&format!("<tbody id=\"row-{n}\">")),
            "row {n} has an anchor"
        );
    }
    // Every row is in the full table, and only the non-MATCH rows have their photos unfolded.
    let all = between(&html, "<h2 id=\"rows\">", "</table>\n");
    assert_eq!(all.matches("<tbody id=\"row-").count(), rows.len());
    assert_eq!(all.matches("<details open>").count(), 5);

    let only_match = vec![synthetic(2, RowStatus::Match)];
    let html = page(&only_match);
    let section = between(&html, "<h2 id=\"attention\">", "<h2 id=\"rows\">");
    assert!(section.contains("None: every row ended MATCH"), "{section}");
    assert!(!section.contains("data-row"));
}

#[test]
fn attention_shows_the_message_and_the_missing_and_extra_names() {
    let mut row = synthetic(4, RowStatus::Mismatch);
    row.message = "server holds 2 of 3".into();
    row.missing_on_server = vec!["CNTESTXRAY4-03.jpg".into()];
    row.extra_on_server = vec!["old-1.jpg".into(), "old-2.jpg".into()];
    let html = page(&[row]);
    let section = between(&html, "<h2 id=\"attention\">", "<h2 id=\"rows\">");
    assert!(section.contains("server holds 2 of 3"));
    assert!(
        section.contains("<td class=\"id\">CNTESTXRAY4-03.jpg</td>"),
        "{section}"
    );
    assert!(
        section.contains("<td class=\"id\">old-1.jpg, old-2.jpg</td>"),
        "{section}"
    );
}

#[test]
fn each_photo_shows_its_evidence() {
    let mut row = synthetic(2, RowStatus::Match);
    row.images[1].sent_in = SentIn::Add;
    row.images[2].sent_in = SentIn::None;
    row.images[2].sent_at = None;
    row.images[2].on_server = Some(false);
    let digest = row.images[0].sha256.clone();
    assert_eq!(digest.len(), 64);
    let html = page(&[row]);
    let table = between(&html, "<table class=\"img\">", "</table>");
    let first = between(
        table,
        "<tr><td class=\"id\">CNTESTXRAY2-01.jpg</td>",
        "</tr>",
    );
    assert_eq!(
        first,
        format!(
            "<td class=\"n\">123457</td><td><code class=\"h\">{digest}</code></td>\
             <td>image/jpeg</td><td>kirim</td><td>2025-01-02T03:04:05Z</td><td>yes</td>\
             <td>2026-11-20 10:00:00</td>"
        )
    );
    let second = between(table, "CNTESTXRAY2-02.jpg</td>", "</tr>");
    assert!(second.contains("<td>add</td>"), "{second}");
    let third = between(table, "CNTESTXRAY2-03.jpg</td>", "</tr>");
    assert!(
        third.contains("<td>none</td><td></td><td><span class=\"no\">no</span>"),
        "{third}"
    );
    assert!(
        html.contains("<code>sha256sum FILE</code>"),
        "how to check a digest"
    );
}

#[test]
fn the_header_says_what_ran_on_what_and_how_it_ended() {
    let mut i = info();
    i.command = "retry".into();
    i.previous_run = Some("runs/20250101T000000Z".into());
    i.manifest.sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into();
    i.resumed_at = vec![i.started_at + chrono::Duration::seconds(30)];
    i.requests.achieved_rate = Some(4.5);
    i.requests
        .per_endpoint
        .entry("kirim-foto-xray".into())
        .or_default()
        .extend([("200".to_string(), 5), ("429".to_string(), 1)]);
    i.requests
        .per_endpoint
        .entry("get-foto-xray".into())
        .or_default()
        .insert("200".into(), 4);
    let rows = vec![synthetic(2, RowStatus::Mismatch)];
    let html = render(&Summary::build(&i, &rows), &rows);
    let run = between(&html, "<h2 id=\"run\">", "<h2 id=\"charts\">");
    for want in [
        "runs/20250102T030405Z",
        "<b>retry</b> — resumed 1 time",
        "2025-01-02T03:04:35.000Z",
        "runs/20250101T000000Z",
        "<code class=\"h\">e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</code>",
        "3 data rows",
        "2025-01-02T03:04:05.000Z",
        "2025-01-02T03:05:10.000Z",
        "1m 5s",
        "<b>1</b> — some rows need attention",
        "<th>rate</th>",
        "<th>concurrency</th>",
        "<th>credentials</th>",
    ] {
        assert!(run.contains(want), "{want} in {run}");
    }
    let req = between(&html, "<h2 id=\"requests\">", "<h2 id=\"attention\">");
    assert!(
        req.contains("<tr><td class=\"m\">kirim-foto-xray</td><td class=\"n\">5</td><td class=\"n\">1</td><td class=\"n\"><b>6</b></td></tr>"),
        "{req}"
    );
    assert!(
        req.contains("<tr><td class=\"m\">get-foto-xray</td><td class=\"n\">4</td><td class=\"n muted\">·</td>"),
        "{req}"
    );
    assert!(req.contains("4.50 requests/s"), "{req}");
    assert!(
        req.contains("<span class=\"no\">1</span>"),
        "429s stand out: {req}"
    );
}

#[test]
fn the_page_loads_nothing_from_anywhere() {
    let html = page(&[synthetic(2, RowStatus::Match)]);
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "@import",
        "url(",
        " src=",
        "href=\"http",
        "@font-face",
    ] {
        assert!(!lower.contains(banned), "{banned}");
    }
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    assert!(html.contains("@media print{"));
    // The only links are to anchors inside the page.
    for link in html.split("href=\"").skip(1) {
        assert!(link.starts_with('#'), "{}", &link[..20.min(link.len())]);
    }
}

#[test]
fn an_unfinished_run_with_no_rows_still_renders() {
    let mut i = info();
    i.finished_at = None;
    i.exit_code = None;
    let html = render(&Summary::build(&i, &[]), &[]);
    assert!(html.contains("not finished"));
    assert!(html.contains("This run has no rows."));
    assert!(html.contains("None: every row ended MATCH") || html.contains("(0)"));
    check_tags(&html);
}

#[test]
fn ten_thousand_rows_stay_small_and_linear() {
    let rows = |n: usize| -> Vec<RowResult> {
        (0..n)
            .map(|i| {
                let status = if i % 50 == 0 {
                    RowStatus::Mismatch
                } else {
                    RowStatus::Match
                };
                synthetic(i + 2, status)
            })
            .collect()
    };
    let small = page(&rows(1_000)).len();
    let big_rows = rows(10_000);
    let big = page(&big_rows);
    let per_row = big.len() / big_rows.len();
    // 3 photos a row, each with a 64-character digest: about 2 KB a row is the budget.
    assert!(per_row < 2_600, "{per_row} bytes per row");
    assert!(
        big.len() < 26_000_000,
        "{} bytes for 10,000 rows",
        big.len()
    );
    let ratio = big.len() as f64 / small as f64;
    assert!(
        (9.0..10.5).contains(&ratio),
        "size grows linearly: ×{ratio:.2}"
    );
    let tags = check_tags(&big);
    assert_eq!(tags["details"], 10_001, "one per row, plus the settings");
    let ids: BTreeSet<&str> = big
        .split("<tbody id=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(ids.len(), 10_000, "every row has its own anchor");
}
