(module
  (memory (export "memory") 1 1)
  (global (export "ns_init") i32 (i32.const 0))
  (func (export "ns_abi_version") (result i32) i32.const 1))
