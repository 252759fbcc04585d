// The headers the files of nat_tests share, compiled once for the program (meson cpp_pch).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nat/flow_table.h"
#include "nat/port_alloc.h"
