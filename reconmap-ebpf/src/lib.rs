#![no_std]
// This file exists so that the host build of the workspace sees a library target.
