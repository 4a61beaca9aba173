//! The answers of the API text, verbatim, and the pages of gateways that are not the API's,
//! read into typed outcomes.

use super::*;

// The examples of the API text, verbatim.
const KIRIM_OK: &str = r#"{
    "success": true,
    "data": {
        "nomorAju": "012345678901234500000020250930CNTESTXRAY3CN1",
        "nomorBlAwb": "CNTESTXRAY3",
        "tanggalBlAwb": "2025-09-30",
        "kodeKantor": "009000",
        "npwpPemberitahu": "0123456789012345000000",
        "jumlahFotoTerupload": 2,
        "keterangan": "Sukses Upload Foto"
    },
    "timestamp": "2023-10-27 10:00:00",
    "code": 200,
    "message": "Sukses Kirim Foto Xray"
}"#;
const KIRIM_NOT_FOUND: &str = r#"{
    "success": false, "data": null, "timestamp": "2023-10-27 10:00:00", "code": 404,
    "message": "Gagal Kirim Foto Xray, Data BL/AWB CN tidak ditemukan"
}"#;
const UNAUTHORIZED: &str = r#"{
    "success": false, "data": null, "timestamp": "2023-10-27 10:00:00", "code": 401,
    "message": "Invalid Authorization Token"
}"#;
const CONFLICT: &str = r#"{
    "success": false, "data": null, "timestamp": "2023-10-27 10:00:00", "code": 409,
    "message": "Data X-Ray sudah ada, silahkan gunakan API add untuk menambah foto"
}"#;
const ADD_NOT_FOUND: &str = r#"{
    "success": false, "data": null, "timestamp": "2023-10-27 10:00:00", "code": 404,
    "message": "Data Foto Xray tidak ditemukan"
}"#;
const GET_OK: &str = r#"{
    "success": true,
    "data": {
        "nomorAju": "012345678901234500000020250930CNTESTXRAY3CN1",
        "nomorBlAwb": "CNTESTXRAY3",
        "tanggalBlAwb": "2025-09-30",
        "kodeKantor": "009000",
        "npwpPemberitahu": "0123456789012345000000",
        "totalFotoTerupload": 2,
        "keterangan": null,
        "detail": [
            { "namaFile": "image1.jpg", "waktuRekam": "2023-10-27 10:00:00" },
            { "namaFile": "image2.png", "waktuRekam": "2023-10-27 10:00:05" }
        ]
    },
    "timestamp": "2023-10-27 10:01:00",
    "code": 200,
    "message": "Sukses Mengambil Data Foto X-Ray"
}"#;
const GET_NOT_FOUND: &str = r#"{
    "success": false, "data": null, "timestamp": "2023-10-27 10:01:00", "code": 404,
    "message": "Data Foto Xray tidak ditemukan atas request yang diminta"
}"#;

#[test]
fn kirim_success_is_stored_with_npwp_and_count() {
    let answer = upload_answer(true, 200, KIRIM_OK).unwrap();
    assert_eq!(
        answer,
        UploadAnswer::Stored(UploadOk {
            npwp_pemberitahu: Some("0123456789012345000000".into()),
            jumlah_foto_terupload: Some(2),
            message: "Sukses Kirim Foto Xray".into(),
            sent_sha256: Default::default(),
        })
    );
}

#[test]
fn http_200_with_code_404_is_not_found() {
    assert_eq!(
        upload_answer(true, 200, KIRIM_NOT_FOUND).unwrap(),
        UploadAnswer::NotFound {
            message: "Gagal Kirim Foto Xray, Data BL/AWB CN tidak ditemukan".into()
        }
    );
    assert_eq!(
        upload_answer(false, 200, ADD_NOT_FOUND).unwrap(),
        UploadAnswer::NotFound {
            message: "Data Foto Xray tidak ditemukan".into()
        }
    );
}

#[test]
fn http_409_is_a_conflict_on_kirim_and_a_refusal_on_add() {
    assert!(matches!(
        upload_answer(true, 409, CONFLICT).unwrap(),
        UploadAnswer::Conflict { message } if message.starts_with("Data X-Ray sudah ada")
    ));
    assert!(matches!(
        upload_answer(false, 409, CONFLICT),
        Err(ApiError::Rejected { status: 409, .. })
    ));
}

#[test]
fn server_errors_and_unreadable_bodies_of_the_api_are_ambiguous() {
    let down = r#"{"success":false,"data":null,"code":503,"message":"Service Unavailable"}"#;
    assert!(matches!(
        upload_answer(true, 503, down),
        Err(ApiError::Ambiguous(m)) if m.contains("503") && m.contains("Service Unavailable")
    ));
    assert!(matches!(get_answer(502, down), Err(ApiError::Ambiguous(_))));
    assert!(matches!(
        get_answer(200, r#"{"success":true,"code":200,"data":{"detail":"x"}}"#),
        Err(ApiError::Ambiguous(_))
    ));
    // The envelope's keys are there, but not readable as such.
    assert!(matches!(
        upload_answer(false, 200, r#"{"success":"yes","code":200}"#),
        Err(ApiError::Ambiguous(_))
    ));
    // A body code beyond u16 is not shown as a wrapped-around status.
    let body = r#"{"success":false,"code":66036,"message":"x"}"#;
    for result in [
        upload_answer(true, 200, body).map(|_| ()),
        get_answer(200, body).map(|_| ()),
    ] {
        assert!(
            matches!(&result, Err(ApiError::Ambiguous(m)) if m.contains("HTTP 200")),
            "{result:?}"
        );
    }
}

#[test]
fn an_answer_without_the_api_envelope_is_a_gateway_fault_whatever_the_status() {
    const PAGE_404: &str = "<html>\r\n<head><title>404 Not Found</title></head>\r\n\
        <body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>";
    // Never "not found": the API did not say so.
    let err = get_answer(404, PAGE_404).unwrap_err();
    assert_eq!(
        err,
        ApiError::Gateway {
            status: 404,
            page: "404 Not Found 404 Not Found nginx".into()
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("HTTP 404") && text.contains("not the API's") && text.contains("--api-url"),
        "{text}"
    );
    assert!(err.is_ambiguous());
    // Never "stored", never "not found", never a conflict, on either upload.
    for (status, body) in [
        (200, "<html>gateway</html>"),
        (200, ""),
        (200, "{}"),
        (200, r#"{"message":"ok"}"#),
        (404, PAGE_404),
        (409, "Conflict"),
        (413, "Payload Too Large\n"),
        (502, "<html><body>502 Bad Gateway</body></html>"),
        (504, "<html><body>504 Gateway Time-out</body></html>"),
    ] {
        for is_kirim in [true, false] {
            let answer = upload_answer(is_kirim, status, body);
            assert!(
                matches!(&answer, Err(ApiError::Gateway { status: s, .. }) if *s == status),
                "{status} {body:?}: {answer:?}"
            );
        }
        let answer = get_answer(status, body);
        assert!(
            matches!(&answer, Err(ApiError::Gateway { status: s, .. }) if *s == status),
            "{status} {body:?}: {answer:?}"
        );
    }
    assert!(is_api_answer(GET_NOT_FOUND));
    assert!(is_api_answer(r#"{"success":false}"#));
    assert!(!is_api_answer(PAGE_404));
    assert!(!is_api_answer(r#"["success"]"#));
}

#[test]
fn other_refusals_carry_the_server_message() {
    let body = r#"{"success":false,"data":null,"code":400,"message":"tanggalBlAwb salah"}"#;
    assert_eq!(
        upload_answer(true, 400, body),
        Err(ApiError::Rejected {
            status: 400,
            message: "tanggalBlAwb salah".into()
        })
    );
    let too_large = r#"{"success":false,"data":null,"code":413,"message":"Payload Too Large"}"#;
    assert_eq!(
        upload_answer(true, 413, too_large),
        Err(ApiError::Rejected {
            status: 413,
            message: "Payload Too Large".into()
        })
    );
    assert_eq!(
        upload_answer(true, 200, UNAUTHORIZED),
        Err(ApiError::Rejected {
            status: 401,
            message: "Invalid Authorization Token".into()
        })
    );
}

#[test]
fn get_lists_the_photos() {
    let record = get_answer(200, GET_OK).unwrap().unwrap();
    assert_eq!(
        record.npwp_pemberitahu.as_deref(),
        Some("0123456789012345000000")
    );
    assert_eq!(record.total_foto_terupload, Some(2));
    assert_eq!(
        record.detail,
        vec![
            ServerPhoto {
                nama_file: "image1.jpg".into(),
                waktu_rekam: Some("2023-10-27 10:00:00".into())
            },
            ServerPhoto {
                nama_file: "image2.png".into(),
                waktu_rekam: Some("2023-10-27 10:00:05".into())
            },
        ]
    );
}

#[test]
fn the_apis_own_404_is_none_either_way() {
    assert_eq!(get_answer(404, GET_NOT_FOUND).unwrap(), None);
    assert_eq!(get_answer(200, GET_NOT_FOUND).unwrap(), None);
    // An empty 404 is not the API's word.
    assert!(matches!(
        get_answer(404, ""),
        Err(ApiError::Gateway { status: 404, .. })
    ));
}

#[test]
fn retry_after_seconds_date_default_and_cap() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(retry_after(Some("3"), now), Duration::from_secs(3));
    assert_eq!(retry_after(Some(" 0 "), now), Duration::ZERO);
    assert_eq!(retry_after(Some("1.5"), now), Duration::from_millis(1500));
    assert_eq!(retry_after(None, now), Duration::from_secs(1));
    assert_eq!(retry_after(Some("soon"), now), Duration::from_secs(1));
    assert_eq!(retry_after(Some("-4"), now), Duration::from_secs(1));
    assert_eq!(retry_after(Some("999999"), now), MAX_PAUSE);
    let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
    assert_eq!(retry_after(Some(&date), now), Duration::from_secs(7));
    let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
    assert_eq!(retry_after(Some(&past), now), Duration::ZERO);
}
