// Package safetensors reads and writes checkpoints in the safetensors format, the
// format that PyTorch users load with safetensors.torch.load_file. Files written
// by this package load there as a dict of tensors (float32 and int64), and files
// written by PyTorch with float32, float64, float16, bfloat16, int64, int32 or
// uint8 tensors load here.
//
// # Format
//
// A safetensors file has three parts:
//
//  1. an unsigned 64-bit little-endian integer N, the length of the header;
//  2. N bytes of UTF-8 JSON, the header;
//  3. the data buffer, the rest of the file.
//
// The header is a JSON object that maps each tensor name to an object
//
//	{"dtype": "F32", "shape": [64, 3, 3, 3], "data_offsets": [begin, end]}
//
// where begin and end (exclusive) are byte offsets into the data buffer. It may
// also hold the reserved key "__metadata__", an object of string values, which
// is why no tensor may have that name. Tensor data is stored little-endian in C
// (row-major) order; a scalar has shape []. The tensors cover the data buffer
// exactly, without gaps or overlaps.
//
// When writing, the header is padded with spaces so that the data buffer starts
// at a multiple of 8 bytes, and tensors whose elements are 8 bytes wide (I64)
// are laid out before the 4-byte ones (F32), so every tensor is aligned to its
// element size. PyTorch refuses to view misaligned bytes as a wider type, so
// this keeps the files loadable there without copies. The header is written
// with its keys sorted, so the same tensors always give the same bytes.
//
// Reading is strict: anything that does not follow the format above, such as
// a malformed header, unsupported dtypes, offsets that disagree with the
// shape, gaps, overlaps, duplicate names or trailing bytes, is reported with an
// error that wraps [ErrInvalid] and says what is wrong.
package safetensors
