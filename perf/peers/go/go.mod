module lwppeer

go 1.19
