-- hang: string.byte over a huge range of a big string
return select("#", string.byte(string.rep("x", 1 << 22), 1, -1)) > 0
