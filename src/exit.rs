//! The process exit codes, decided once at the end of a command (DESIGN "Exit codes").

/// How a command ended. `code()` is the only place that knows the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Exit {
    /// Every row MATCH (validate: every row valid).
    Ok,
    /// Finished, but some rows need attention (validate: some rows invalid).
    RowsNeedAttention,
    /// Usage, config or manifest unreadable; nothing was sent.
    Usage,
    /// Could not authenticate or reach the API at all.
    Unreachable,
    /// Another run holds the lock of the output folder.
    Locked,
    /// The run folder could not be written (disk full, I/O error): the run stopped sending at
    /// once; `run --resume` finishes it once there is space.
    RunFolder,
    /// Stopped by SIGINT.
    Interrupted,
    /// Stopped by SIGTERM.
    Terminated,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::RowsNeedAttention => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::Locked => 4,
            Exit::RunFolder => 5,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_follow_the_design() {
        let all = [
            (Exit::Ok, 0),
            (Exit::RowsNeedAttention, 1),
            (Exit::Usage, 2),
            (Exit::Unreachable, 3),
            (Exit::Locked, 4),
            (Exit::RunFolder, 5),
            (Exit::Interrupted, 130),
            (Exit::Terminated, 143),
        ];
        for (exit, code) in all {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
    }
}
