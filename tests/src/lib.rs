//! Helpers shared by the privileged end-to-end tests.
