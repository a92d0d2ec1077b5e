-- hang: utf8.len and utf8.codepoint over a big string, in a loop
local s = string.rep("\xc3\xa9", 1 << 20)
for _ = 1, 1e9 do local n = utf8.len(s) local c = utf8.codepoint(s, 1, 1 << 16) end
