-- hang: a __tostring returning a huge string, in a loop through print
local t = setmetatable({}, { __tostring = function() return string.rep("z", 1 << 22) end })
for _ = 1, 1e9 do print(t) end
