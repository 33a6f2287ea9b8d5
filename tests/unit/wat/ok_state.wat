;; A module with state for the AOT test's hot swap (glue's transfer): a
;; global, a word of memory and the memory's size all move the verdict, so a
;; fresh instance answers otherwise than one that got the state.
(module
  (memory (export "memory") 2 4)
  (global $n (mut i32) (i32.const 0))
  (func (export "ns_abi_version") (result i32) i32.const 1)
  (func (export "ns_packet_buffer") (result i32) i32.const 1024)
  ;; n += 1; mem[8] += 2; the second packet grows the memory by a page;
  ;; returns n + mem[8] + memory.size
  (func (export "ns_packet") (param $len i32) (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 2)))
    (if (i32.eq (global.get $n) (i32.const 2))
      (then (drop (memory.grow (i32.const 1)))))
    (i32.add (i32.add (global.get $n) (i32.load (i32.const 8))) (memory.size))))
