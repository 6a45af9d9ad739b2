//! The maps shared with user space (names in `reconmap_common::names`).
use aya_ebpf::{
    macros::map,
    maps::{HashMap, PerCpuArray, RingBuf},
};
use reconmap_common::{counter, FlowKey, FlowState, DEFAULT_MAX_FLOWS, DEFAULT_RING_BYTES};

/// Registered probe flows (user space adds one before its SYN, removes it after the close).
#[map]
pub static FLOWS: HashMap<FlowKey, FlowState> = HashMap::with_max_entries(DEFAULT_MAX_FLOWS, 0);

/// Captured packets for user space.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

/// Per-CPU event counters (`reconmap_common::counter`).
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);
