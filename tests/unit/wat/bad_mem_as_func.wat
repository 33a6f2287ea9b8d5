(module
  (memory (export "mem") 1 1)
  (func (export "memory"))
  (func (export "ns_abi_version") (result i32) i32.const 1))
