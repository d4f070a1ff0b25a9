using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using PolicyKit.Diffusion.Checkpoints;
using Xunit.Abstractions;

namespace PolicyKit.Diffusion.Tests.Reliability;

public enum IndexEditKind { Unlist, MissingShard, PathOutside, NotAString, Misplaced, WeightMapBroken, DuplicateKey, LoneSurrogate, FlipByte, Truncate, MutateShard }

public sealed record IndexEdit(IndexEditKind Kind, int A, int B, Edit ShardEdit)
{
    public override string ToString() => Kind == IndexEditKind.MutateShard ? $"{Kind}({A}, {ShardEdit})" : $"{Kind}({A},{B})";
}

public sealed record ShardedCase(SafetensorsCase[] Shards, IndexEdit[] Edits)
{
    public override string ToString() => $"{Shards.Length} shards [{string.Join(" | ", Shards.Select(s => string.Join("; ", s.Tensors.Select(t => t.ToString()))))}] edits [{string.Join(", ", Edits.Select(e => e.ToString()))}]";
}

/// <summary>
/// Property tests of sharded checkpoints: an index over generated shards, with the index edited (entries
/// unlisted, misplaced, pointing at missing shards or outside the directory, wrong types, broken bytes) or a
/// shard mutated, either opens with every listed tensor read from its own shard, or throws
/// <see cref="CheckpointException"/> naming the index or a shard inside the checkpoint directory.
/// </summary>
public class ShardIndexFuzzTests(ITestOutputHelper output)
{
    private static readonly string[] Outside = ["../outside.safetensors", "/etc/passwd", "", ".", "..", "sub/x.safetensors", "model-00009-of-00009.safetensors"];

    private static readonly Gen<IndexEdit> AnyEdit =
        from kind in Gen.Elements(Enum.GetValues<IndexEditKind>())
        from a in Gen.Choose(0, 1 << 20)
        from b in Gen.Choose(0, 1 << 20)
        from shardEdit in Gen.Elements(EditKind.FlipBit, EditKind.Truncate, EditKind.Offsets, EditKind.HeaderLength, EditKind.DuplicateName)
            .Select(k => new Edit(k, a / 3, b / 3))
        select new IndexEdit(kind, a, b, shardEdit);

    private static readonly Gen<ShardedCase> Cases =
        from count in Gen.Choose(1, 3)
        from shards in SafetensorsFuzzTests.Cases.Select(c => c with { Edits = [] }).ArrayOf(count)
        from edits in Gen.Frequency((1, Gen.Constant(Array.Empty<IndexEdit>())), (6, AnyEdit.ArrayOf(1)), (2, Gen.Choose(2, 3).SelectMany(n => AnyEdit.ArrayOf(n))))
        select new ShardedCase(
            // Names unique across shards, as a real checkpoint's are.
            shards.Select((s, k) => s with { Tensors = s.Tensors.Select(t => t with { Name = $"s{k}.{t.Name}" }).ToArray() }).ToArray(),
            edits);

    private static string ShardName(int k, int n) => $"model-{k + 1:D5}-of-{n:D5}.safetensors";

    /// <summary>Writes the shards and the (edited) index into <paramref name="dir"/>; returns the index path.</summary>
    private static string Write(string dir, ShardedCase c)
    {
        var n = c.Shards.Length;
        var map = new JsonObject();
        for (var k = 0; k < n; k++)
        {
            var shard = c.Shards[k] with { Edits = c.Edits.Where(e => e.Kind == IndexEditKind.MutateShard && e.A % n == k).Select(e => e.ShardEdit).ToArray() };
            File.WriteAllBytes(Path.Combine(dir, ShardName(k, n)), SafetensorsFuzzTests.Build(shard));
            foreach (var t in c.Shards[k].Tensors) map[t.Name] = ShardName(k, n);
        }
        var root = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = map };
        var raw = new List<string>(); // raw JSON members appended to the weight map's text
        foreach (var e in c.Edits)
        {
            var names = map.Select(kv => kv.Key).ToList();
            var name = names.Count == 0 ? null : names[e.A % names.Count];
            switch (e.Kind)
            {
                case IndexEditKind.Unlist when name is not null: map.Remove(name); break;
                case IndexEditKind.MissingShard when name is not null: map[name] = "model-00042-of-00042.safetensors"; break;
                case IndexEditKind.PathOutside when name is not null: map[name] = Outside[e.B % Outside.Length]; break;
                case IndexEditKind.NotAString when name is not null: map[name] = e.B % 2 == 0 ? JsonValue.Create(e.B) : new JsonArray(); break;
                case IndexEditKind.Misplaced when name is not null && n > 1: map[name] = ShardName((Array.IndexOf(c.Shards, c.Shards.First(s => s.Tensors.Any(t => t.Name == name))) + 1) % n, n); break;
                case IndexEditKind.WeightMapBroken: root["weight_map"] = e.B % 2 == 0 ? JsonValue.Create("x") : null; break;
                case IndexEditKind.DuplicateKey when name is not null: raw.Add($"\"{name}\":\"{ShardName(0, n)}\""); break;
                case IndexEditKind.LoneSurrogate: raw.Add(e.B % 2 == 0 ? "\"\\ud800\":\"x.safetensors\"" : $"\"k{e.A}\":\"\\udc00.safetensors\""); break;
            }
        }
        var text = root.ToJsonString();
        if (raw.Count > 0 && root["weight_map"] is JsonObject wm)
        {
            var mapText = wm.ToJsonString();
            var at = text.IndexOf(mapText, StringComparison.Ordinal) + mapText.Length - 1;
            text = text[..at] + (wm.Count > 0 ? "," : "") + string.Join(",", raw) + text[at..];
        }
        var bytes = Encoding.UTF8.GetBytes(text);
        foreach (var e in c.Edits)
        {
            if (e.Kind == IndexEditKind.FlipByte && bytes.Length > 0) bytes[e.A % bytes.Length] ^= (byte)(1 << (e.B % 8));
            if (e.Kind == IndexEditKind.Truncate) bytes = bytes[..(e.A % (bytes.Length + 1))];
        }
        var index = Path.Combine(dir, SafetensorsReader.IndexFileName);
        File.WriteAllBytes(index, bytes);
        return index;
    }

    [Fact]
    public void Edited_sharded_checkpoints_open_with_every_tensor_from_its_shard_or_throw_a_checkpoint_exception_naming_a_file_of_the_checkpoint()
    {
        using var root = new TempDir();
        var tally = new Dictionary<string, int>();
        var caseNumber = 0;
        Fuzz.Check(Cases, Fuzz.Cases(500), c =>
        {
            var dir = root.Sub($"c{caseNumber++}");
            try
            {
                var index = Write(dir, c);
                var prefix = c.Edits.Length == 0 ? "valid " : "edited ";
                SafetensorsReader? reader = null;
                var (error, _) = Fuzz.Measure(() => reader = SafetensorsReader.OpenIndex(index));
                if (error is not null)
                {
                    if (error is not CheckpointException ce)
                        throw new Exception($"expected CheckpointException, got {error.GetType().Name}: {error.Message}", error);
                    var inside = Path.GetDirectoryName(Path.GetFullPath(ce.File)) == Path.GetFullPath(dir);
                    if (!inside || !ce.Message.StartsWith(ce.File, StringComparison.Ordinal))
                        throw new Exception($"the error does not name a file of the checkpoint: {ce.Message}");
                    if (c.Edits.Length == 0) throw new Exception($"a valid checkpoint was refused: {ce.Message}", ce);
                    return prefix + "refused";
                }
                // Accepted: exactly the listed tensors, each from the shard the index names, read back as stored.
                var listed = (JsonNode.Parse(File.ReadAllBytes(index))!["weight_map"] as JsonObject)!;
                if (!listed.Select(kv => kv.Key).Order(StringComparer.Ordinal).SequenceEqual(reader!.Tensors.Keys.Order(StringComparer.Ordinal)))
                    throw new Exception("the tensors differ from the index's weight map");
                foreach (var (name, entry) in reader.Tensors)
                {
                    if (entry.File != Path.Combine(dir, (string)listed[name]!))
                        throw new Exception($"{name} was read from {entry.File}, the index says {listed[name]}");
                    var bytes = File.ReadAllBytes(entry.File);
                    using var t = reader.Read(name);
                    if (!t.bytes.SequenceEqual(bytes.AsSpan((int)entry.Offset, (int)entry.ByteLength)))
                        throw new Exception($"{name}: the bytes read differ from the shard");
                }
                return prefix + "accepted";
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }, tally);
        output.WriteLine("sharded index: " + Fuzz.Summary(tally));
        Assert.True(tally.GetValueOrDefault("edited refused") > 0 && tally.GetValueOrDefault("edited accepted") > 0, Fuzz.Summary(tally));
    }
}
