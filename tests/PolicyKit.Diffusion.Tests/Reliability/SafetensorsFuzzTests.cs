using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using PolicyKit.Diffusion.Checkpoints;
using Xunit.Abstractions;

namespace PolicyKit.Diffusion.Tests.Reliability;

/// <summary>One tensor of a generated file: any of the format's dtypes, rank 0 to 4, small dims (zeros too).</summary>
public sealed record TensorSpec(string Name, string DType, long[] Shape)
{
    public long ByteLength => Shape.Aggregate(1L, (a, b) => a * b) * Size(DType);

    public static int Size(string dtype) => dtype switch
    {
        "F64" or "I64" => 8,
        "F32" or "I32" => 4,
        "F16" or "BF16" or "I16" => 2,
        _ => 1,
    };

    public override string ToString() => $"{Name}:{DType}[{string.Join(",", Shape)}]";
}

public enum EditKind
{
    // JSON-level edits of the header
    Offsets, Shape, DType, RemoveKey, EntryNotObject, Metadata, ExtraEntry, RootNotObject,
    // edits of the serialised header text
    DuplicateName, DuplicateMetadata, LoneSurrogateName, InvalidUtf8, DeepNesting, HeaderJunk,
    // edits of the file's bytes
    HeaderLength, FlipBit, Truncate, OverwriteHeaderByte, AppendJunk,
}

/// <summary>One edit; <see cref="A"/> and <see cref="B"/> pick the entry, position and value.</summary>
public sealed record Edit(EditKind Kind, int A, int B)
{
    public override string ToString() => $"{Kind}({A},{B})";
}

public sealed record SafetensorsCase(TensorSpec[] Tensors, bool Metadata, bool Pad, int Seed, Edit[] Edits)
{
    public override string ToString() =>
        $"tensors [{string.Join("; ", Tensors.Select(t => t.ToString()))}] metadata={Metadata} pad={Pad} seed={Seed} edits [{string.Join(", ", Edits.Select(e => e.ToString()))}]";
}

/// <summary>
/// Property tests of the safetensors reader: valid files (random names, dtypes and shapes) read back exactly;
/// files mutated by header edits, byte flips and truncations either load (and then every tensor's bytes lie in
/// the file and read back as stored) or throw <see cref="CheckpointException"/> naming the file. Never another
/// exception type, and never a managed allocation proportional to a size the file merely claims.
/// </summary>
public class SafetensorsFuzzTests(ITestOutputHelper output)
{
    private static readonly string[] DTypes = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"];

    // Values a hostile header puts where a size or an offset belongs.
    private static readonly string[] HostileNumbers =
    [
        "-1", "0", "1", "7", "2147483648", "4294967296", "1099511627776", "9007199254740993", "4611686018427387904",
        "9223372036854775807", "9223372036854775808", "18446744073709551615", "1e3", "1.5", "-0", "\"3\"", "null",
        "true", "[]", "{}",
    ];

    private static readonly string[] HostileDTypes = ["\"F8_E4M3\"", "\"f32\"", "\"\"", "\"F32 \"", "\"1\"", "3", "null", "\"BOOL\"", "\"U8\"", "\"BF16\"", "\"I64\""];

    private static readonly Gen<string> Name = Gen.OneOf(
        Gen.Elements("model.embed_tokens.weight", "lm_head.weight", "a", "", " ", "__metadata_", "é", "名前", "a\"b", "a\\b", "\n", "x.y.z"),
        Gen.Choose(1, 24).SelectMany(n => Gen.Elements("abcdefghijklmnopqrstuvwxyz._0123456789".ToCharArray()).ArrayOf(n)).Select(c => new string(c)));

    private static readonly Gen<long[]> Shape =
        Gen.Choose(0, 4).SelectMany(rank => Gen.Frequency((1, Gen.Constant(0)), (8, Gen.Choose(1, 6))).Select(d => (long)d).ArrayOf(rank));

    private static readonly Gen<TensorSpec[]> Tensors =
        (from name in Name
         from dtype in Gen.Elements(DTypes)
         from shape in Shape
         select (name, dtype, shape)).ListOf().Select(list => list.Take(12).ToList()).Select(list => // a dozen tensors exercise every rule; more only cost time
            // Unique names: a suffix keeps the generated name recognisable.
            list.Select((t, i) => new TensorSpec(list.Take(i).Any(p => p.name == t.name) ? $"{t.name}#{i}" : t.name, t.dtype, t.shape)).ToArray());

    private static readonly Gen<Edit> AnyEdit =
        from kind in Gen.Elements(Enum.GetValues<EditKind>())
        from a in Gen.Choose(0, 1 << 20)
        from b in Gen.Choose(0, 1 << 20)
        select new Edit(kind, a, b);

    private static readonly Gen<Edit[]> Edits = Gen.Frequency(
        (1, Gen.Constant(Array.Empty<Edit>())),
        (6, AnyEdit.ArrayOf(1)),
        (3, Gen.Choose(2, 3).SelectMany(n => AnyEdit.ArrayOf(n))));

    public static readonly Gen<SafetensorsCase> Cases =
        from tensors in Tensors
        from metadata in Gen.Elements(true, false)
        from pad in Gen.Elements(true, false)
        from seed in Gen.Choose(0, int.MaxValue)
        from edits in Edits
        select new SafetensorsCase(tensors, metadata, pad, seed, edits);

    /// <summary>The file's bytes: 8-byte header length, the (edited) JSON header, then the tensors' data.</summary>
    public static byte[] Build(SafetensorsCase c)
    {
        var rng = new Random(c.Seed);
        var header = new JsonObject();
        if (c.Metadata) header["__metadata__"] = new JsonObject { ["format"] = "pt" };
        // Header order differs from data order: the format does not tie them.
        var offsets = new long[c.Tensors.Length];
        long offset = 0;
        for (var i = 0; i < c.Tensors.Length; i++) { offsets[i] = offset; offset += c.Tensors[i].ByteLength; }
        foreach (var i in Enumerable.Range(0, c.Tensors.Length).OrderBy(_ => rng.Next()))
        {
            var t = c.Tensors[i];
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.DType,
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offsets[i], offsets[i] + t.ByteLength),
            };
        }
        var data = new byte[offset];
        rng.NextBytes(data);

        foreach (var e in c.Edits) EditJson(header, e, c.Tensors);
        var text = header.ToJsonString();
        foreach (var e in c.Edits) text = EditText(text, e, c.Tensors);
        var json = Encoding.UTF8.GetBytes(text);
        foreach (var e in c.Edits.Where(e => e.Kind == EditKind.InvalidUtf8 && json.Length >= 3))
            json[1 + e.A % Math.Max(1, json.Length - 2)] = (byte)(0x80 + e.B % 0x80); // a lone continuation byte (or worse)
        if (c.Pad) json = [.. json, .. Enumerable.Repeat((byte)' ', (8 - json.Length % 8) % 8)];

        var bytes = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + json.Length);
        foreach (var e in c.Edits) bytes = EditBytes(bytes, e, 8 + json.Length);
        return bytes;
    }

    private static JsonNode? Hostile(int i) => JsonNode.Parse(HostileNumbers[i % HostileNumbers.Length]);

    private static long Long(JsonNode? n) => n is JsonValue v && v.TryGetValue<long>(out var x) ? x : 0;

    private static JsonObject? Entry(JsonObject header, int a)
    {
        var entries = header.Where(kv => kv.Key != "__metadata__" && kv.Value is JsonObject).ToList();
        return entries.Count == 0 ? null : (JsonObject)entries[a % entries.Count].Value!;
    }

    private static void EditJson(JsonObject header, Edit e, TensorSpec[] tensors)
    {
        var entry = Entry(header, e.A);
        switch (e.Kind)
        {
            case EditKind.Offsets when entry is not null && entry["data_offsets"] is JsonArray { Count: 2 } offsets:
                switch (e.B % 6)
                {
                    case 0: offsets[e.B / 6 % 2] = Hostile(e.B / 12); break;
                    case 1: offsets[0] = Long(offsets[0]) + 1 - e.B / 6 % 3; break;                    // off by one either way
                    case 2: offsets[1] = Long(offsets[1]) + 1 - e.B / 6 % 3; break;
                    case 3: entry["data_offsets"] = new JsonArray(Long(offsets[1]), Long(offsets[0])); break; // reversed
                    case 4: entry!["data_offsets"] = new JsonArray(0L); break;
                    default: // the same range as another tensor: an overlap whenever both are non-empty
                        var other = Entry(header, e.B);
                        var range = other is null ? null : other["data_offsets"]; // an earlier edit may have removed it
                        if (range is not null) entry!["data_offsets"] = range.DeepClone();
                        break;
                }
                break;
            case EditKind.Shape when entry is not null && entry["shape"] is JsonArray shape:
                switch (e.B % 5)
                {
                    case 0 when shape.Count > 0: shape[e.B / 5 % shape.Count] = Hostile(e.B / 25); break;
                    case 1: shape.Add(Hostile(e.B / 5)); break;
                    case 2 when shape.Count > 0: shape.RemoveAt(0); break;
                    case 3: entry!["shape"] = new JsonArray(Enumerable.Range(0, 17).Select(_ => (JsonNode?)JsonValue.Create(1)).ToArray()); break; // rank 17
                    default: entry!["shape"] = Hostile(e.B / 5); break;
                }
                break;
            case EditKind.DType when entry is not null:
                entry["dtype"] = JsonNode.Parse(HostileDTypes[e.B % HostileDTypes.Length]);
                break;
            case EditKind.RemoveKey when entry is not null:
                entry.Remove(new[] { "dtype", "shape", "data_offsets" }[e.B % 3]);
                break;
            case EditKind.EntryNotObject:
                var names = header.Select(kv => kv.Key).ToList();
                if (names.Count > 0) header[names[e.A % names.Count]] = Hostile(e.B);
                break;
            case EditKind.Metadata:
                header["__metadata__"] = (e.B % 4) switch
                {
                    0 => Hostile(e.B / 4),
                    1 => new JsonObject { ["k"] = Hostile(e.B / 4) },
                    2 => new JsonArray("a"),
                    _ => new JsonObject { ["k"] = new string('v', e.B % 1000) },
                };
                break;
            case EditKind.ExtraEntry:
                // A tensor claiming a huge or misplaced range, which must not be allocated for.
                header["extra" + e.A] = new JsonObject
                {
                    ["dtype"] = "F32",
                    ["shape"] = new JsonArray(1L << (e.B % 40), 1L << (e.B / 40 % 30)),
                    ["data_offsets"] = new JsonArray(0L, (1L << (e.B % 40)) * (1L << (e.B / 40 % 30)) * 4),
                };
                break;
            case EditKind.RootNotObject:
                // Replaced by the text edit below (a JsonObject cannot become an array in place).
                break;
        }
    }

    private static string EditText(string text, Edit e, TensorSpec[] tensors)
    {
        switch (e.Kind)
        {
            case EditKind.RootNotObject:
                return (e.B % 4) switch { 0 => "[" + text + "]", 1 => "\"x\"", 2 => "null", _ => "12" };
            case EditKind.DuplicateName when tensors.Length > 0 && text.EndsWith('}'):
                var t = tensors[e.A % tensors.Length];
                var dup = new JsonObject { [t.Name] = new JsonObject { ["dtype"] = t.DType, ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()), ["data_offsets"] = new JsonArray(0L, t.ByteLength) } }.ToJsonString();
                return text[..^1] + "," + dup[1..];
            case EditKind.DuplicateMetadata when text.EndsWith('}'):
                return text[..^1] + (text.Length > 2 ? "," : "") + "\"__metadata__\":{}}";
            case EditKind.LoneSurrogateName when text.EndsWith('}'):
                // Valid UTF-8 JSON whose escape decodes to invalid UTF-16, as a name or as a metadata value.
                var entry = e.B % 2 == 0
                    ? "\"\\ud800x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}"
                    : "\"__metadata__\":{\"k\":\"\\udc00\"}";
                return text[..^1] + (text.Length > 2 ? "," : "") + entry + "}";
            case EditKind.DeepNesting when text.EndsWith('}'):
                var depth = 10 + e.B % 200;
                return text[..^1] + (text.Length > 2 ? "," : "") + "\"deep\":" + new string('[', depth) + new string(']', depth) + "}";
            case EditKind.HeaderJunk:
                return (e.B % 3) switch { 0 => text + "x", 1 => text + "{}", _ => text[..(e.A % (text.Length + 1))] };
            default:
                return text;
        }
    }

    private static byte[] EditBytes(byte[] bytes, Edit e, int dataStart)
    {
        if (bytes.Length < 8) return bytes; // an earlier truncation left nothing to edit
        dataStart = Math.Min(dataStart, bytes.Length);
        switch (e.Kind)
        {
            case EditKind.HeaderLength:
                var headerLength = (ulong)(dataStart - 8);
                ulong[] claims =
                [
                    0, 1, 2, 7, headerLength - 1, headerLength + 1, (ulong)bytes.Length - 8, (ulong)bytes.Length - 7, (ulong)bytes.Length,
                    1UL << 40, 1UL << 63, ulong.MaxValue, (ulong)SafetensorsFile.MaxHeaderBytes, (ulong)SafetensorsFile.MaxHeaderBytes + 1,
                ];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, claims[e.B % claims.Length]);
                return bytes;
            case EditKind.FlipBit:
                // Mostly inside the header, where the structure lives.
                var limit = e.B % 4 == 0 ? bytes.Length : Math.Min(bytes.Length, dataStart);
                bytes[e.A % limit] ^= (byte)(1 << (e.B % 8));
                return bytes;
            case EditKind.Truncate:
                return bytes[..(e.A % bytes.Length)];
            case EditKind.OverwriteHeaderByte when dataStart > 8:
                bytes[8 + e.A % (dataStart - 8)] = (byte)"{}[],:\"0123456789-e\\ \0"[e.B % 22];
                return bytes;
            case EditKind.AppendJunk:
                return [.. bytes, .. new byte[1 + e.B % 64]];
            default:
                return bytes;
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/> and reads every tensor. Returns "accepted" or "refused"; throws when the
    /// reader broke its contract.
    /// </summary>
    internal static string OpenAndCheck(string path, byte[] bytes, bool mustAccept)
    {
        SafetensorsReader? reader = null;
        var (error, allocated) = Fuzz.Measure(() => reader = SafetensorsReader.Open(path));
        // The header is read once into a buffer bounded by the real file; parsing costs a small multiple of it.
        var bound = 64 * 1024 + 16L * bytes.Length;
        if (allocated > bound)
            throw new Exception($"opening a {bytes.Length}-byte file allocated {allocated} bytes (bound {bound}): a claimed size was trusted");
        if (error is not null)
        {
            if (error is not CheckpointException ce)
                throw new Exception($"expected CheckpointException, got {error.GetType().Name}: {error.Message}", error);
            if (ce.File != path || !ce.Message.StartsWith(path, StringComparison.Ordinal))
                throw new Exception($"the error does not name the file: {ce.Message}");
            if (mustAccept) throw new Exception($"a valid file was refused: {ce.Message}", ce);
            return "refused";
        }

        // Accepted: every range lies in the data region, matches shape x dtype, overlaps nothing, reads back as stored.
        var entries = reader!.Tensors.Values.OrderBy(e => e.Offset).ToList();
        var dataStart = 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        long previousEnd = dataStart;
        foreach (var entry in entries)
        {
            if (entry.Offset < dataStart || entry.Offset + entry.ByteLength > bytes.Length)
                throw new Exception($"{entry.Name}: range [{entry.Offset}, {entry.Offset + entry.ByteLength}) is outside the data region");
            if (entry.ByteLength != entry.ElementCount * entry.DType.ElementSize())
                throw new Exception($"{entry.Name}: {entry.ByteLength} bytes for shape {entry.ShapeText} {entry.DType}");
            if (entry.ByteLength > 0)
            {
                if (entry.Offset < previousEnd) throw new Exception($"{entry.Name}: overlaps the previous tensor");
                previousEnd = entry.Offset + entry.ByteLength;
            }
            using var t = reader.Read(entry.Name);
            if (!t.bytes.SequenceEqual(bytes.AsSpan((int)entry.Offset, (int)entry.ByteLength)))
                throw new Exception($"{entry.Name}: the bytes read differ from the file");
        }
        return "accepted";
    }

    [Fact]
    public void Valid_generated_files_read_back_exactly_and_mutated_ones_load_or_throw_a_checkpoint_exception_naming_the_file()
    {
        using var dir = new TempDir();
        var path = dir.File("fuzz.safetensors");
        var tally = new Dictionary<string, int>();
        Fuzz.Check(Cases, Fuzz.Cases(3000), c =>
        {
            var bytes = Build(c);
            File.WriteAllBytes(path, bytes);
            return (c.Edits.Length == 0 ? "valid " : "mutated ") + OpenAndCheck(path, bytes, mustAccept: c.Edits.Length == 0);
        }, tally);
        output.WriteLine("safetensors: " + Fuzz.Summary(tally));
        // The generator must reach both sides of the property, or it tests nothing.
        Assert.True(tally.GetValueOrDefault("mutated refused") > 0 && tally.GetValueOrDefault("mutated accepted") > 0, Fuzz.Summary(tally));
    }

    [Theory]
    [InlineData("{\"\\ud800x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}")]
    [InlineData("{\"__metadata__\":{\"k\":\"\\udc00\"}}")]
    public void A_header_escaping_a_lone_surrogate_is_refused_with_a_checkpoint_exception(string header)
    {
        // Found by the fuzz test: valid UTF-8 and valid JSON, but JsonDocument threw InvalidOperationException.
        using var dir = new TempDir();
        var path = dir.File("surrogate.safetensors");
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsReader.Open(path));
        Assert.Equal(path, e.File);
        Assert.Contains("Unicode", e.Message);
    }

    [Theory]
    [InlineData("[0, 4611686018427387904, 4]")]
    [InlineData("[4611686018427387904, 4, 0]")]
    public void An_empty_tensor_whose_other_dims_overflow_is_refused_when_the_header_is_read(string shape)
    {
        // Found by the fuzz test: zero bytes passed the size check, then torch.empty failed natively on the strides.
        using var dir = new TempDir();
        var path = dir.File("strides.safetensors");
        var json = Encoding.UTF8.GetBytes($"{{\"t\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[0,0]}}}}");
        var bytes = new byte[8 + json.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsReader.Open(path));
        Assert.Equal(path, e.File);
        Assert.Equal("t", e.Tensor);
        Assert.Contains("overflows", e.Message);
    }

    [Theory]
    [InlineData(1UL << 40)]
    [InlineData(ulong.MaxValue)]
    [InlineData(100UL * 1024 * 1024)] // at the format's cap, but far past this file's end
    public void A_header_length_claiming_far_more_than_the_file_fails_fast_without_allocating_it(ulong claim)
    {
        using var dir = new TempDir();
        var path = dir.File("claim.safetensors");
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claim);
        File.WriteAllBytes(path, bytes);
        var (error, allocated) = Fuzz.Measure(() => SafetensorsReader.Open(path));
        var e = Assert.IsType<CheckpointException>(error);
        Assert.Equal(path, e.File);
        Assert.Contains("header length", e.Message);
        Assert.True(allocated < 64 * 1024, $"allocated {allocated} bytes");
    }
}
