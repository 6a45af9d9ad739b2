//! The flow map handle: which 4-tuples are probe flows.
use super::DatapathError;
use aya::maps::{HashMap, Map, MapData, MapError};
use reconmap_common::{FlowKey, FlowState};
use std::sync::{Arc, Mutex};

/// Cloneable handle to the kernel's FLOWS map.
#[derive(Clone)]
pub struct FlowTable {
    map: Arc<Mutex<HashMap<MapData, FlowKey, FlowState>>>,
}

impl FlowTable {
    pub(super) fn new(map: Map) -> Result<Self, DatapathError> {
        let map = HashMap::try_from(map).map_err(|e| DatapathError::FlowMap(e.to_string()))?;
        Ok(Self {
            map: Arc::new(Mutex::new(map)),
        })
    }

    /// Adds a flow: its RSTs are dropped, its packets captured.
    pub fn register(&self, key: FlowKey) -> Result<(), DatapathError> {
        let mut m = self
            .map
            .lock()
            .map_err(|_| DatapathError::FlowMap("lock poisoned".into()))?;
        m.insert(key, FlowState::default(), 0).map_err(|e| {
            if errno(&e) == Some(libc::E2BIG) {
                DatapathError::FlowMap(format!("flow map full ({e}): lower --concurrency"))
            } else {
                DatapathError::FlowMap(e.to_string())
            }
        })
    }

    /// Removes a flow (missing flows are not an error).
    pub fn unregister(&self, key: FlowKey) -> Result<(), DatapathError> {
        let mut m = self
            .map
            .lock()
            .map_err(|_| DatapathError::FlowMap("lock poisoned".into()))?;
        match m.remove(&key) {
            Err(e) if errno(&e) != Some(libc::ENOENT) => Err(DatapathError::FlowMap(e.to_string())),
            _ => Ok(()),
        }
    }

    /// Number of registered flows.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.keys().count()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The errno of a failed map syscall.
fn errno(e: &MapError) -> Option<i32> {
    match e {
        MapError::SyscallError(s) => s.io_error.raw_os_error(),
        _ => None,
    }
}
