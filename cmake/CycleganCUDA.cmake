# Sets CYCLEGAN_WITH_CUDA. CUDA is optional: found nvcc -> build the kernels (AUTO).
set(CYCLEGAN_WITH_CUDA OFF)
string(TOUPPER "${CYCLEGAN_CUDA}" _cyclegan_cuda)
if(_cyclegan_cuda STREQUAL "OFF" OR _cyclegan_cuda STREQUAL "0" OR _cyclegan_cuda STREQUAL "FALSE")
  message(STATUS "cyclegan: CUDA kernels disabled (CYCLEGAN_CUDA=${CYCLEGAN_CUDA})")
  return()
endif()

include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(_cyclegan_cuda STREQUAL "ON")
    message(FATAL_ERROR "cyclegan: CYCLEGAN_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
  message(STATUS "cyclegan: nvcc not found, building CPU kernels only")
  return()
endif()

# Real code for each supported generation plus PTX for the newest, so future GPUs JIT it.
# Must be set before enable_language, which otherwise picks the compiler's default arch.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  set(CMAKE_CUDA_ARCHITECTURES "80-real;86-real;89-real;90-real;90-virtual")
endif()
# cudart linked statically: the wheel needs no CUDA toolkit, only a driver.
set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
enable_language(CUDA)
set(CYCLEGAN_WITH_CUDA ON)
message(STATUS "cyclegan: CUDA kernels for ${CMAKE_CUDA_ARCHITECTURES} (nvcc ${CMAKE_CUDA_COMPILER_VERSION})")
