;; A packet module for the AOT test: counts bytes (counter 7), drops IPv4
;; packets (first byte 0x45) with a log line "dropped", accepts the rest.
(module
  (import "netserv" "ns_log" (func $log (param i32 i32 i32)))
  (import "netserv" "ns_counter_add" (func $add (param i32 i64)))
  (memory (export "memory") 2 2)
  (data (i32.const 16) "dropped")
  (global $packets (mut i32) (i32.const 0))
  (func (export "ns_abi_version") (result i32) i32.const 1)
  (func (export "ns_init") (result i32) i32.const 0)
  (func (export "ns_packet_buffer") (result i32) i32.const 1024)
  (func (export "ns_packet") (param $len i32) (result i32)
    (global.set $packets (i32.add (global.get $packets) (i32.const 1)))
    (call $add (i32.const 7) (i64.extend_i32_u (local.get $len)))
    (if (result i32) (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 0x45))
      (then (call $log (i32.const 2) (i32.const 16) (i32.const 7)) (i32.const 1))
      (else (i32.const 0))))
  (func (export "ns_timer") (param i32))
  (func (export "packets") (result i32) (global.get $packets)))
