(module
  (func (export "ns_abi_version") (result i32) i32.const 1))
