build/common/proc.o: common/proc.c common/cleanup.h common/proc.h \
 common/err.h
common/cleanup.h:
common/proc.h:
common/err.h:
