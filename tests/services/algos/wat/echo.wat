;; Returns its book buffer as the action buffer: tests write any action bytes as book levels.
(module
  (memory (export "memory") 4)
  (func (export "algo_alloc") (param $n i32) (result i32) (i32.const 0x30000))
  (func (export "algo_on_book") (param $b i32) (param $s i32) (result i32) (local.get $b)))
