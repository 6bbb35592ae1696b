# The CPU kernels are compiled once per instruction set into their own namespace
# (cyclegan::cpu::<isa>); csrc/cpu/dispatch.cpp picks the best one the running CPU has.
# This keeps the wheel portable (baseline x86-64) while using AVX2/FMA where present.
set(CYCLEGAN_CPU_ISAS "base")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64" AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  list(APPEND CYCLEGAN_CPU_ISAS "avx2" "avx512")
endif()

# cyclegan_cpu_kernels(<target> <source>...): an INTERFACE target carrying every source's
# object code once per ISA, and the CYCLEGAN_HAS_ISA_<ISA> / CYCLEGAN_CPU_ISAS definitions
# csrc/cpu/dispatch.cpp reads.
function(cyclegan_cpu_kernels target)
  set(sources ${ARGN})
  add_library(${target} INTERFACE)
  foreach(isa IN LISTS CYCLEGAN_CPU_ISAS)
    set(obj ${target}_${isa})
    add_library(${obj} OBJECT ${sources})
    target_include_directories(${obj} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/csrc)
    target_compile_definitions(${obj} PRIVATE CYCLEGAN_ISA=${isa})
    set_target_properties(${obj} PROPERTIES POSITION_INDEPENDENT_CODE ON CXX_VISIBILITY_PRESET hidden)
    if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
      target_compile_options(${obj} PRIVATE -O3 -fopenmp-simd -fno-math-errno)
    endif()
    if(isa STREQUAL "avx2")
      target_compile_options(${obj} PRIVATE -mavx2 -mfma -mf16c)
    elseif(isa STREQUAL "avx512")
      target_compile_options(${obj} PRIVATE -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mprefer-vector-width=512)
    endif()
    cyclegan_warnings(${obj})
    target_sources(${target} INTERFACE $<TARGET_OBJECTS:${obj}>)
    string(TOUPPER ${isa} ISA)
    target_compile_definitions(${target} INTERFACE CYCLEGAN_HAS_ISA_${ISA}=1)
  endforeach()
  string(REPLACE ";" "," isas "${CYCLEGAN_CPU_ISAS}")
  target_compile_definitions(${target} INTERFACE CYCLEGAN_CPU_ISAS="${isas}")
endfunction()
