//! The EventStoreDB backend of the packhooks event store.
