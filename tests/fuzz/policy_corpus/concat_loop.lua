-- hang: a 16 MiB string copied by the concatenation operator on every turn
local s = string.rep("x", 1 << 24)
for _ = 1, 1e9 do local t = s .. "" end
