//! A panic inside a spreadsheet reader must not take the process down with a backtrace: a
//! hostile workbook is a file to refuse, not a crash. [`quietly`] runs a reader, catches its
//! panic, and keeps the panic message off stderr (the caller reports the file instead).

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Set while this thread runs a reader under [`quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Run `read`; a panic becomes `Err` with its message. Other threads' panics are reported as
/// before.
pub fn quietly<T>(read: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(read));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "an unexpected failure".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_a_value_passes_through() {
        assert_eq!(quietly(|| 7), Ok(7));
        let err = quietly(|| -> u32 { panic!("attempt to multiply with overflow") }).unwrap_err();
        assert_eq!(err, "attempt to multiply with overflow");
        let err = quietly(|| -> u32 { panic!("row {}", 5) }).unwrap_err();
        assert_eq!(err, "row 5");
    }
}
