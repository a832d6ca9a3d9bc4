// 1-D connected components of `signal > threshold` for many rows and thresholds at once.
//
// A row n is the slice signal[row_start[n], row_start[n] + row_len[n]) (padded [N, T] batches pass
// row_start[n] = n * T; CSR batches pass their offsets). For every (row, threshold) pair the kernel
// finds the maximal runs of positions t with (double)signal[t] > threshold[m] (strict), keeps those of
// length >= min_len, and writes them ordered by row, then threshold, then time. Start/end are
// positions inside the row, end exclusive.
#pragma once
#include <cstdint>

namespace wtal::cpu {

struct CCOptions {
  int64_t min_len = 1;
  // HAM-Net/BaSNet/DGAM test `if temp_list.any()` on the indices above threshold: a (row, threshold)
  // whose only above-threshold position is index 0 yields no proposal.
  bool drop_index0_only_runs = false;
  int num_threads = 0;  // 0: hardware concurrency
};

// Pass 1: offsets[p] (p = n * M + m, P = N * M, offsets has P + 1 entries) becomes the exclusive
// prefix sum of the run counts; offsets[P] is the total. Throws std::invalid_argument on NaN inside a
// row or on a negative row length.
template <typename T>
void cc_count(const T* signal, const int64_t* row_start, const int64_t* row_len, int64_t n_rows,
              const double* thresholds, int64_t n_thresholds, const CCOptions& opt, int64_t* offsets);

// Pass 2: writes the runs at the positions given by `offsets` (from cc_count with the same inputs).
template <typename T>
void cc_fill(const T* signal, const int64_t* row_start, const int64_t* row_len, int64_t n_rows,
             const double* thresholds, int64_t n_thresholds, const CCOptions& opt, const int64_t* offsets,
             int64_t* row, int64_t* threshold_index, int64_t* start, int64_t* end);

}  // namespace wtal::cpu
