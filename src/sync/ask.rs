//! Rows that start by asking with get: the auditor's reconcile (get only), and a document whose
//! BL/AWB customs did not know a short while ago (get, and send only if customs now holds X-ray
//! data for it).

use super::view::Existence;
use super::{Ending, RowRun};
use crate::api::{Api, ApiError};
use crate::model::{RowResult, RowStatus, Shipment};
use crate::sync::SyncSettings;

/// A document whose BL/AWB customs did not know when an earlier run asked, a short while ago:
/// ask with get only. With no X-ray data on the server the row is NOT_FOUND again with `why`,
/// and no photo is sent; else, as for a document seen on the server before, only what the
/// server lacks is sent (with add), and the row is verified.
pub fn sync_row_not_found_lately(
    api: &dyn Api,
    shipment: &Shipment,
    settings: &SyncSettings,
    why: String,
) -> RowResult {
    let mut run = RowRun::new(api, shipment, settings);
    let ending = match run.look("could not check the server first") {
        Err(ending) => ending,
        Ok(()) if run.view.existence == Existence::Absent => Ending::NotFound(why),
        Ok(()) => run.upload(false),
    };
    let mut result = run.finish(ending);
    if result.status == RowStatus::NotFound {
        held_nothing(&mut result);
    }
    result
}

/// Auditor mode: get only, and compare with the local photos.
pub fn reconcile_row(api: &dyn Api, shipment: &Shipment, settings: &SyncSettings) -> RowResult {
    let mut run = RowRun::new(api, shipment, settings);
    let ending = match run.fetch() {
        Ok(Some(_)) => Ending::Verify,
        Ok(None) => Ending::NotFound("no X-ray data on the server for this nomorAju".into()),
        Err(ApiError::Stopped) => Ending::Stopped,
        Err(err) => Ending::Failed(format!("could not get: {err}")),
    };
    let mut result = run.finish(ending);
    result.action = "get".into();
    if result.status == RowStatus::Match {
        result.message = format!("all {} photos on the server", result.local_count);
    }
    if result.status == RowStatus::NotFound {
        held_nothing(&mut result);
    }
    result
}

/// A row whose get answered "no X-ray data": the server holds none of its photos.
fn held_nothing(result: &mut RowResult) {
    result.server_count = Some(0);
    for image in &mut result.images {
        image.on_server = Some(false);
    }
}
