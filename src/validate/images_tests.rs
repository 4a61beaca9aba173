use super::*;

const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 0xFF, 0xD9,
];
const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];

fn bmp() -> Vec<u8> {
    let mut b = b"BM".to_vec();
    b.extend_from_slice(&[0; 12]);
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn messages(scan: &Scan) -> Vec<String> {
    scan.problems
        .iter()
        .map(|p| {
            format!(
                "{:?} {} {:?}: {}",
                p.severity,
                p.column.unwrap_or("photo"),
                p.value,
                p.message
            )
        })
        .collect()
}

#[test]
fn every_format_is_recognised_by_its_bytes() {
    assert_eq!(sniff(JPEG), Some("image/jpeg"));
    assert_eq!(sniff(PNG), Some("image/png"));
    assert_eq!(sniff(b"GIF87a...."), Some("image/gif"));
    assert_eq!(sniff(b"GIF89a...."), Some("image/gif"));
    assert_eq!(sniff(&bmp()), Some("image/bmp"));
    assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some("image/tiff"));
    assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some("image/tiff"));
    assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
    assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
    assert_eq!(sniff(b"BMW shipment notes for row 4"), None);
    assert_eq!(sniff(b"%PDF-1.7"), None);
    assert_eq!(sniff(b""), None);
    assert_eq!(sniff(&[0xFF, 0xD8]), None);
}

#[test]
fn photos_are_sorted_by_name_and_typed_by_content() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.png", PNG);
    write(dir.path(), "a.JPG", JPEG);
    write(dir.path(), "c.png", JPEG); // a JPEG under a .png name is still a JPEG
    write(dir.path(), "scan0001", PNG); // no extension, but an image
    let scan = scan(3, "f", dir.path(), 1000);
    assert!(scan.problems.is_empty(), "{:?}", messages(&scan));
    let names: Vec<(&str, &str)> = scan
        .photos
        .iter()
        .map(|f| (f.name.as_str(), f.content_type))
        .collect();
    assert_eq!(
        names,
        vec![
            ("a.JPG", "image/jpeg"),
            ("b.png", "image/png"),
            ("c.png", "image/jpeg"),
            ("scan0001", "image/png")
        ]
    );
    assert_eq!(scan.photos[0].bytes, JPEG.len() as u64);
}

#[test]
fn hidden_files_are_skipped_and_other_files_counted_in_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.jpg", JPEG);
    write(dir.path(), ".hidden.jpg", b"not an image");
    write(dir.path(), ".DS_Store", b"junk");
    write(dir.path(), "notes.txt", b"hello");
    std::fs::create_dir(dir.path().join("old")).unwrap();
    write(&dir.path().join("old"), "x.jpg", JPEG); // no recursion
    let scan = scan(3, "f", dir.path(), 1000);
    assert_eq!(scan.photos.len(), 1);
    assert_eq!(
        messages(&scan),
        vec![
            r#"Warning folder "f": also holds 2 files that are not photos: notes.txt, old/ (ignored)"#
        ]
    );
}

#[test]
fn a_file_named_like_an_image_must_be_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.jpg", JPEG);
    write(dir.path(), "label.jpg", b"this is text");
    write(dir.path(), "empty.png", b"");
    let scan = scan(3, "f", dir.path(), 1000);
    assert_eq!(
        messages(&scan),
        vec![
            r#"Error photo "empty.png": is empty (0 bytes)"#,
            r#"Error photo "label.jpg": is named like an image but its content is not one (not JPEG, PNG, GIF, BMP, TIFF or WebP)"#,
        ]
    );
    assert_eq!(scan.problems[0].row, 3);
    assert_eq!(scan.problems[0].column, None);
}

#[test]
fn photos_over_the_limit_are_errors_naming_file_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = JPEG.to_vec();
    big.resize(101, 0);
    write(dir.path(), "big.jpg", &big);
    write(dir.path(), "ok.jpg", JPEG);
    let scan = scan(3, "f", dir.path(), 100);
    assert_eq!(
        messages(&scan),
        vec![
            r#"Error photo "big.jpg": is 101 bytes, over the limit of 100 bytes (--max-image-bytes)"#
        ]
    );
    let dir2 = tempfile::tempdir().unwrap();
    write(dir2.path(), "exact.jpg", &big[..100]);
    assert!(super::scan(3, "f", dir2.path(), 100).problems.is_empty());
}

#[test]
fn missing_not_a_folder_and_empty_folders() {
    let dir = tempfile::tempdir().unwrap();
    let missing = scan(3, "nope", &dir.path().join("nope"), 1000);
    assert_eq!(missing.problems.len(), 1);
    assert!(
        messages(&missing)[0].starts_with(r#"Error folder "nope": does not exist (looked for "#)
    );

    write(dir.path(), "file", b"x");
    let file = scan(3, "file", &dir.path().join("file"), 1000);
    assert!(messages(&file)[0].starts_with(r#"Error folder "file": is not a folder"#));

    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let empty = scan(3, "empty", &dir.path().join("empty"), 1000);
    assert_eq!(
        messages(&empty),
        vec![r#"Error folder "empty": holds no photos (JPEG, PNG, GIF, BMP, TIFF or WebP)"#]
    );
    write(&dir.path().join("empty"), "readme.pdf", b"%PDF");
    let only_other = scan(3, "empty", &dir.path().join("empty"), 1000);
    assert_eq!(
        messages(&only_other),
        vec![
            r#"Error folder "empty": holds no photos (JPEG, PNG, GIF, BMP, TIFF or WebP), only 1 file that is not a photo: readme.pdf"#
        ]
    );
}

#[cfg(unix)]
#[test]
fn symbolic_links_to_files_are_photos() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    write(elsewhere.path(), "real.png", PNG);
    std::os::unix::fs::symlink(
        elsewhere.path().join("real.png"),
        dir.path().join("link.png"),
    )
    .unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone.png"), dir.path().join("broken.png")).unwrap();
    let scan = scan(3, "f", dir.path(), 1000);
    assert_eq!(scan.photos.len(), 1);
    assert_eq!(scan.photos[0].name, "link.png");
    assert!(messages(&scan)[0].starts_with(r#"Error photo "broken.png": cannot be read"#));
}

#[test]
fn hashing_streams_the_whole_file() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    // Larger than one chunk, so that the loop runs more than once.
    let mut bytes = JPEG.to_vec();
    bytes.extend((0..200_000u32).map(|i| (i % 251) as u8));
    write(dir.path(), "a.jpg", &bytes);
    let scan = scan(3, "f", dir.path(), u64::MAX);
    let image = hash(&scan.photos[0]).unwrap();
    assert_eq!(image.bytes, bytes.len() as u64);
    assert_eq!(image.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(image.content_type, "image/jpeg");
    assert_eq!(image.name, "a.jpg");
}

#[test]
fn photo_names_must_be_printable_quoteless_and_short() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("{}.png", "x".repeat(MAX_PHOTO_NAME_CHARS));
    for name in [
        "ok.png",
        "a\r\nb.png",
        "esc\u{1b}[2J.png",
        "q\"uote.png",
        "back\\slash.png",
        &long,
    ] {
        write(dir.path(), name, PNG);
    }
    let scan = scan(3, "f", dir.path(), 1 << 20);
    let photos: Vec<&str> = scan.photos.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(photos, ["ok.png"]);
    let text = messages(&scan).join("\n");
    for expected in [
        "photo \"a\\r\\nb.png\": has a control or invisible character in its name",
        "photo \"esc\\u{1b}[2J.png\": has a control or invisible character in its name",
        "photo \"q\\\"uote.png\": has \" in its name, which cannot travel in the upload's file name",
        "photo \"back\\\\slash.png\": has \\ in its name",
        "has a name of 132 characters; a photo name has at most 128",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}
