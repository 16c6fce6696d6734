//! Plan mode: mutations are recorded instead of made (AWS operations, local
//! files, uploads and commands over SSH). A leaf module: the host owns the
//! run's plan, domain code (`ssh`) records into it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::Value;

/// One AWS operation that plan mode would make.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedOp {
    /// The AWS operation, e.g. `CreateVpc`.
    pub operation: String,
    /// Its parameters, including tags.
    pub params: Value,
    /// The placeholder ID standing in for what AWS would assign.
    pub id: String,
}

/// Plan mode: mutations are recorded instead of made.
#[derive(Debug, Default)]
pub struct Plan {
    /// Whether read calls may reach AWS (an endpoint or credentials given).
    pub online: bool,
    ops: Mutex<Vec<PlannedOp>>,
    counter: AtomicU64,
}

impl Plan {
    /// A new plan; `online` allows read calls to find existing resources.
    pub fn new(online: bool) -> Plan {
        Plan {
            online,
            ..Default::default()
        }
    }
    /// Records an operation; returns the placeholder ID for it.
    pub fn record(&self, operation: &str, id_prefix: &str, params: Value) -> String {
        let id = if id_prefix.is_empty() {
            String::new()
        } else {
            let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
            format!("{id_prefix}-planned{n:03}")
        };
        if let Ok(mut ops) = self.ops.lock() {
            ops.push(PlannedOp {
                operation: operation.to_string(),
                params,
                id: id.clone(),
            });
        }
        id
    }
    /// Everything recorded so far.
    pub fn ops(&self) -> Vec<PlannedOp> {
        self.ops.lock().map(|o| o.clone()).unwrap_or_default()
    }
    /// Forgets recorded operations (REPL `:plan on`).
    pub fn clear(&self) {
        if let Ok(mut o) = self.ops.lock() {
            o.clear();
        }
    }
}
