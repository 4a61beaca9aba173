//! Integration tests: a folder cell or a photo link that resolves outside the images root makes
//! its row INVALID, so that no image outside it can reach customs, unless
//! `--allow-outside-root` is given.

use crate::run::{describe, latest, run_against};
use crate::util::{Sandbox, TestDir, kirim_xray, png, read_csv};

#[cfg(unix)]
#[test]
fn folders_and_photo_links_outside_the_images_root_are_invalid_and_nothing_is_sent() {
    let dir = TestDir::new();
    // Another temporary folder, next to the images root: what `../..` or `/etc` would reach.
    let elsewhere = TestDir::new();
    let outside = elsewhere.join("secret");
    elsewhere.write("secret/passport.png", png(1));
    let sibling = format!(
        "../{}/secret",
        elsewhere
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
    );
    // A folder that is a link out of the root, and a folder inside whose photo is such a link.
    dir.write("images/placeholder", "");
    std::os::unix::fs::symlink(&outside, dir.join("images/linked")).expect("folder link");
    dir.write("images/row5/a.png", png(2));
    std::os::unix::fs::symlink(outside.join("passport.png"), dir.join("images/row5/b.png"))
        .expect("photo link");
    let manifest = dir.write(
        "manifest.csv",
        format!(
            "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n\
             AJUOUT2,BL2,2026-11-20,009000,{sibling}\n\
             AJUOUT3,BL3,2026-11-20,009000,{}\n\
             AJUOUT4,BL4,2026-11-20,009000,images/linked\n\
             AJUOUT5,BL5,2026-11-20,009000,images/row5\n",
            outside.display()
        ),
    );

    let validate = kirim_xray()
        .arg("validate")
        .arg(&manifest)
        .output()
        .expect("validate");
    assert_eq!(validate.status.code(), Some(1), "{}", describe(&validate));
    let table = String::from_utf8_lossy(&validate.stdout);
    assert_eq!(
        table.matches("resolves outside the images root").count(),
        4,
        "{table}"
    );
    assert!(table.contains("is a link that resolves outside"), "{table}");

    let sandbox = Sandbox::start(&[]);
    let run = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&format!(
            "row 2, column folder: \"{sibling}\" resolves outside the images root"
        )),
        "{stderr}"
    );
    let results = read_csv(&latest(&dir).join("results.csv"));
    assert!(
        results.iter().all(|r| r["status"] == "INVALID"
            && r["message"].contains("resolves outside the images root")),
        "{results:?}"
    );
    let state = sandbox.state();
    assert_eq!(state["records"], serde_json::json!([]), "nothing stored");
    assert_eq!(
        state["requests"],
        serde_json::json!({}),
        "not even a login: {state:#}"
    );

    // The operator who means it says so.
    let allowed = kirim_xray()
        .arg("validate")
        .arg(&manifest)
        .arg("--allow-outside-root")
        .output()
        .expect("validate");
    assert_eq!(allowed.status.code(), Some(0), "{}", describe(&allowed));
}
