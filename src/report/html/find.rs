//! "Find a row": the search box of report.html, the element holding every row as compact text
//! ([`super::data`]) and the script (`find.js`) that reads it. Without JavaScript the section
//! says where else every row is (results.csv, images.csv); on paper it is left out.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::data::{self, base64};
use super::thousands;
use crate::model::RowStatus;

/// The page's only script. Its sha256 is in the page's Content-Security-Policy, so a browser
/// runs it and nothing else.
pub(crate) const SCRIPT: &str = include_str!("find.js");

/// `sha256-…` of [`SCRIPT`], as the Content-Security-Policy names it.
pub(super) fn script_hash() -> String {
    format!("sha256-{}", base64(&Sha256::digest(SCRIPT), true))
}

pub(super) fn section(h: &mut String, rows: usize) {
    let _ = write!(
        h,
        "<h2 id=\"find\">Find a row</h2>\
         <div id=\"kx-find\" hidden><p>All {} rows of this run are in this file. Type a nomorAju or \
         a BL/AWB, whole or in part, to see its row and every photo with its sha256; or choose a \
         status to list its rows. The address <code>report.html#q=TEXT</code> opens this page \
         with TEXT searched.</p><p><label>nomorAju or BL/AWB \
         <input id=\"kx-q\" type=\"search\" autocomplete=\"off\" spellcheck=\"false\"></label>\
         <label>status <select id=\"kx-st\"><option value=\"\">any</option>\
         <option value=\"!\">needing attention</option>",
        thousands(rows)
    );
    for status in RowStatus::ALL {
        let _ = write!(h, "<option>{status}</option>");
    }
    h.push_str(
        "</select></label></p><p id=\"kx-out\" aria-live=\"polite\"></p><div id=\"kx-res\"></div></div>\
         <noscript><p>Searching needs JavaScript, which is off for this page. Every row is in \
         results.csv and every photo with its sha256 in images.csv, beside this file.</p></noscript>\
         <p class=\"printonly\">Every row is in results.csv, and every photo with its sha256 in \
         images.csv, beside this report.</p>\n",
    );
}

/// The opening of the element holding the rows, and its header line.
pub(super) fn open_rows(h: &mut String, rows: usize, photos: usize) {
    h.push_str("<script type=\"text/plain\" id=\"kx-rows\">");
    h.push_str(&data::header(rows, photos));
}

/// After the last row: the end of the rows' element, the script, the end of the page.
pub(super) fn end() -> String {
    format!("</script>\n<script>{SCRIPT}</script>\n</body></html>\n")
}
