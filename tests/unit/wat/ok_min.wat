;; The smallest module the node accepts: a bounded, exported memory and the
;; one required export.
(module
  (memory (export "memory") 1 1)
  (func (export "ns_abi_version") (result i32) i32.const 1))
