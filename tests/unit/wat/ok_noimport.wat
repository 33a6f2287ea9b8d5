;; No imports at all (wasm2c's instantiate then takes no host context) and a
;; start function that writes memory.
(module
  (memory (export "memory") 1 1)
  (func $s (i32.store (i32.const 0) (i32.const 42)))
  (start $s)
  (func (export "ns_abi_version") (result i32) (i32.load (i32.const 0))))
