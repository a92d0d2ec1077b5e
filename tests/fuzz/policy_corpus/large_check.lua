-- fail-open: one large check fills the memory cap with one size class
local t = {}
for i = 1, 1e9 do t[i] = {} end
