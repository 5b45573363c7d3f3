build/common/fs.o: common/fs.c common/cleanup.h common/fs.h common/err.h
common/cleanup.h:
common/fs.h:
common/err.h:
