;; 4 GiB maximum, as a memory bomb declares it.
(module
  (memory (export "memory") 1 65536)
  (func (export "ns_abi_version") (result i32) i32.const 1))
