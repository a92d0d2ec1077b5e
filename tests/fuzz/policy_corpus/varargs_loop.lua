-- hang: 150,000 values copied on every call: one instruction each
local function g() end
local function f(...) for _ = 1, 1e9 do g(...) end end
f(string.byte(string.rep("x", 150000), 1, -1))
