;; Imports ns_log with the wrong signature. The validator refuses it; the AOT
;; test compiles it anyway to show that glue.c's prototypes fail the build.
(module
  (import "netserv" "ns_log" (func (param i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "ns_abi_version") (result i32) i32.const 1))
