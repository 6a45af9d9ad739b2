//! The flow map handle: which 4-tuples are probe flows.
use super::DatapathError;
use aya::maps::{HashMap, Map, MapData};
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
            let text = e.to_string();
            if text.contains("No space") || text.contains("E2BIG") || text.contains("too big") {
                DatapathError::FlowMap(format!("flow map full ({text}): lower --concurrency"))
            } else {
                DatapathError::FlowMap(text)
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
            Ok(()) => Ok(()),
            Err(e)
                if e.to_string().contains("No such file")
                    || e.to_string().contains("not found") =>
            {
                Ok(())
            }
            Err(e) => Err(DatapathError::FlowMap(e.to_string())),
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
