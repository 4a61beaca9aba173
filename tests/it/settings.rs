//! Every command reads its settings the same way: flags > environment > settings file >
//! defaults. `validate` and `run --dry-run` must agree on what they read.

use crate::util::{TestDir, jpeg, kirim_xray};

fn code(cmd: &mut std::process::Command) -> (i32, String) {
    let out = cmd.output().expect("run kirim-xray");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn validate_reads_the_settings_file_like_run_does() {
    let dir = TestDir::new();
    // The photos live under photos/, which only the settings file names as the images root.
    dir.write("photos/a/01.jpg", jpeg(1, 300));
    dir.write(
        "manifest.csv",
        "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n\
         012345678901234500000020250930CNTESTXRAY3CN1,CNTESTXRAY3,2025-09-30,009000,a\n",
    );
    dir.write("kirim-xray.toml", "images_root = \"photos\"\n");
    dir.write("conf/other.toml", "images_root = \"../photos\"\n");

    // ./kirim-xray.toml, found in the working folder.
    let (validate, text) = code(
        kirim_xray()
            .current_dir(dir.path())
            .args(["validate", "manifest.csv"]),
    );
    assert_eq!(validate, 0, "{text}");
    let (dry_run, text) =
        code(
            kirim_xray()
                .current_dir(dir.path())
                .args(["run", "--dry-run", "manifest.csv"]),
        );
    assert_eq!(dry_run, validate, "{text}");

    // --config, and KIRIM_XRAY_CONFIG, from another working folder: paths in the file are the
    // file's own.
    std::fs::remove_file(dir.join("kirim-xray.toml")).unwrap();
    let manifest = dir.join("manifest.csv");
    let config = dir.join("conf/other.toml");
    let (with_flag, text) = code(
        kirim_xray()
            .current_dir(dir.join("conf"))
            .arg("validate")
            .arg(&manifest)
            .arg("--config")
            .arg(&config),
    );
    assert_eq!(with_flag, 0, "{text}");
    let (with_env, text) = code(
        kirim_xray()
            .current_dir(dir.join("conf"))
            .env("KIRIM_XRAY_CONFIG", &config)
            .arg("validate")
            .arg(&manifest),
    );
    assert_eq!(with_env, 0, "{text}");

    // Without the file, the folder is not found: the settings file is what made it valid.
    let (without, text) = code(
        kirim_xray()
            .current_dir(dir.path())
            .args(["validate", "manifest.csv"]),
    );
    assert_eq!(without, 1, "{text}");

    // A broken settings file is refused, naming it.
    dir.write("kirim-xray.toml", "images_rot = \"photos\"\n");
    let (broken, text) = code(
        kirim_xray()
            .current_dir(dir.path())
            .args(["validate", "manifest.csv"]),
    );
    assert_eq!(broken, 2, "{text}");
    assert!(text.contains("kirim-xray.toml"), "{text}");
}

#[test]
fn rows_cannot_narrow_a_resumed_run() {
    use crate::run::{RowSpec, demo_command, latest, run_against, write_manifest};
    use crate::util::Sandbox;
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let manifest = write_manifest(&dir, &[RowSpec::valid(1, 1), RowSpec::valid(2, 1)]);
    let first = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(first.status.code(), Some(0));
    let run_dir = latest(&dir);
    let journal = std::fs::read(run_dir.join("journal.jsonl")).unwrap();

    // Said, not silently ignored: usage error, and the run folder untouched.
    let (resumed, text) = code(
        demo_command(&sandbox, &dir, "run", &manifest)
            .arg("--resume")
            .arg(&run_dir)
            .args(["--rows", "2"]),
    );
    assert_eq!(resumed, 2, "{text}");
    assert!(
        text.contains("--rows") && text.contains("--resume"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(run_dir.join("journal.jsonl")).unwrap(),
        journal
    );
}
