using System.Buffers.Binary;
using System.Text.Json;

namespace PolicyKit.Diffusion.Checkpoints;

/// <summary>
/// One tensor's description in a safetensors header, validated against the real file.
/// <see cref="Offset"/> is the absolute byte offset of its data in <see cref="File"/>.
/// </summary>
public sealed record SafetensorsEntry(string Name, string File, SafetensorsDType DType, long[] Shape, long Offset, long ByteLength)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}

/// <summary>
/// The parsed, validated header of one <c>.safetensors</c> file (8-byte little-endian header length,
/// a JSON header, then the data region). Nothing is trusted: the header length is checked against the real
/// file length before anything is allocated, and every entry's dtype, shape and byte range is checked
/// (inside the data region, matching shape × element size, no overlaps, no duplicate names).
/// </summary>
public sealed class SafetensorsFile
{
    /// <summary>The format's own cap on the header size; larger claims are refused before reading.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private const int MaxRank = 16;

    private SafetensorsFile(string path, IReadOnlyDictionary<string, SafetensorsEntry> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        Tensors = tensors;
        Metadata = metadata;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Reads and validates the header of <paramref name="path"/>; throws <see cref="CheckpointException"/>.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!System.IO.File.Exists(path)) throw new CheckpointException(path, null, "file not found");
        try
        {
            using var handle = System.IO.File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8)
                throw new CheckpointException(path, null, $"truncated: {fileLength} bytes, shorter than the 8-byte header length");
            Span<byte> prefix = stackalloc byte[8];
            ReadExactly(handle, prefix, 0, path, null);
            var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > (ulong)MaxHeaderBytes)
                throw new CheckpointException(path, null, $"header length {headerLength} exceeds the format's limit of {MaxHeaderBytes} bytes");
            if ((long)headerLength > fileLength - 8)
                throw new CheckpointException(path, null, $"header length {headerLength} runs past the end of the file ({fileLength} bytes)");
            if (headerLength < 2)
                throw new CheckpointException(path, null, $"header length {headerLength} is too small to hold a JSON object");
            // Bounded by the actual file length (checked above), never by a claimed size alone.
            var header = new byte[headerLength];
            ReadExactly(handle, header, 8, path, null);
            var dataStart = 8 + (long)headerLength;
            return Parse(path, header, dataStart, fileLength - dataStart);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, null, $"cannot read: {e.Message}", e);
        }
    }

    private static SafetensorsFile Parse(string path, byte[] header, long dataStart, long dataLength)
    {
        // JsonDocument defers UTF-8 validation of strings to GetString, which would throw a bare InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw new CheckpointException(path, null, "header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, null, $"header is not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            try
            {
                return Walk(path, doc, dataStart, dataLength);
            }
            catch (InvalidOperationException e)
            {
                // Valid UTF-8 can still escape a lone surrogate ("\ud800"); reading that name or value throws this.
                throw new CheckpointException(path, null, $"header holds a string that is not valid Unicode: {e.Message}", e);
            }
        }
    }

    private static SafetensorsFile Walk(string path, JsonDocument doc, long dataStart, long dataLength)
    {
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(path, null, $"header must be a JSON object, got {doc.RootElement.ValueKind}");
        var tensors = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seenMetadata = false;
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            var name = property.Name;
            if (name == "__metadata__")
            {
                if (seenMetadata) throw new CheckpointException(path, null, "duplicate '__metadata__'");
                seenMetadata = true;
                if (property.Value.ValueKind != JsonValueKind.Object)
                    throw new CheckpointException(path, null, "'__metadata__' must be an object of strings");
                foreach (var m in property.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String)
                        throw new CheckpointException(path, null, $"'__metadata__.{m.Name}' must be a string");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            if (tensors.ContainsKey(name)) throw new CheckpointException(path, name, "appears twice in the header");
            tensors.Add(name, ParseEntry(path, name, property.Value, dataStart, dataLength));
        }
        CheckNoOverlap(path, tensors.Values);
        return new SafetensorsFile(path, tensors, metadata);
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement e, long dataStart, long dataLength)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new CheckpointException(path, name, "entry must be a JSON object");
        if (!e.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new CheckpointException(path, name, "'dtype' is missing or not a string");
        var dtypeText = dtypeElement.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeText, out var dtype))
            throw new CheckpointException(path, name, $"unsupported dtype '{dtypeText}'");

        if (!e.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new CheckpointException(path, name, "'shape' is missing or not an array");
        var rank = shapeElement.GetArrayLength();
        if (rank > MaxRank) throw new CheckpointException(path, name, $"rank {rank} exceeds {MaxRank}");
        var shape = new long[rank];
        var i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0)
                throw new CheckpointException(path, name, $"shape entry {d} is not a non-negative integer");
            shape[i++] = v;
        }

        if (!e.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new CheckpointException(path, name, "'data_offsets' must be an array [begin, end]");
        var begin = Offset(offsets[0]);
        var end = Offset(offsets[1]);
        if (begin > end) throw new CheckpointException(path, name, $"data_offsets [{begin}, {end}] are reversed");
        if (end > dataLength)
            throw new CheckpointException(path, name,
                $"data_offsets [{begin}, {end}] run past the data region ({dataLength} bytes; the file is truncated or the header is wrong)");

        long expected;
        try
        {
            // Zero dims are skipped in the product: [0, 2^62, 4] holds no bytes, but torch still computes its
            // strides from the other dims and fails natively on the overflow when the tensor is allocated.
            checked
            {
                long product = dtype.ElementSize();
                foreach (var d in shape) product *= Math.Max(d, 1);
                expected = shape.Contains(0) ? 0 : product;
            }
        }
        catch (OverflowException)
        {
            throw new CheckpointException(path, name, $"shape [{string.Join(", ", shape)}] overflows");
        }
        if (expected != end - begin)
            throw new CheckpointException(path, name,
                $"shape [{string.Join(", ", shape)}] x {dtypeText} needs {expected} bytes but data_offsets [{begin}, {end}] hold {end - begin}");
        return new SafetensorsEntry(name, path, dtype, shape, dataStart + begin, end - begin);

        long Offset(JsonElement x)
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out var v) || v < 0)
                throw new CheckpointException(path, name, $"data offset {x} is not a non-negative integer");
            return v;
        }
    }

    private static void CheckNoOverlap(string path, IEnumerable<SafetensorsEntry> entries)
    {
        SafetensorsEntry? previous = null;
        foreach (var entry in entries.Where(x => x.ByteLength > 0).OrderBy(x => x.Offset))
        {
            if (previous is not null && entry.Offset < previous.Offset + previous.ByteLength)
                throw new CheckpointException(path, entry.Name, $"data range overlaps tensor '{previous.Name}'");
            previous = entry;
        }
    }

    internal static void ReadExactly(Microsoft.Win32.SafeHandles.SafeFileHandle handle, Span<byte> destination, long offset, string path, string? tensor)
    {
        while (!destination.IsEmpty)
        {
            var n = RandomAccess.Read(handle, destination, offset);
            if (n <= 0) throw new CheckpointException(path, tensor, $"truncated: unexpected end of file at byte {offset}");
            destination = destination[n..];
            offset += n;
        }
    }
}
