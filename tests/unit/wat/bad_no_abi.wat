(module
  (memory (export "memory") 1 1)
  (func (export "ns_init") (result i32) i32.const 0))
