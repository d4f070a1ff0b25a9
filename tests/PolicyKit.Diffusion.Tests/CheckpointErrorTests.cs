using System.Buffers.Binary;
using System.Text;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests;

public class CheckpointErrorTests
{
    private const string Weight = "model.transformer.blocks.1.q_proj.weight";

    /// <summary>Writes a LLaDA checkpoint whose weights were edited by <paramref name="edit"/>.</summary>
    private static string WriteEdited(TempDir dir, Action<List<KeyValuePair<string, Tensor>>> edit)
    {
        var config = TestModels.Write(dir.Path, Layout.LLaDA);
        using var scope = torch.NewDisposeScope();
        var weights = RandomCheckpoint.RandomWeights(config, 1).ToList();
        edit(weights);
        var path = dir.File("model.safetensors");
        SafetensorsWriter.Write(path, weights);
        return path;
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        using var dir = new TempDir();
        var path = WriteEdited(dir, w => w.RemoveAll(kv => kv.Key == Weight));
        var e = Assert.Throws<CheckpointException>(() => DiffusionModel.Load(dir.Path));
        Assert.Equal(Weight, e.Tensor);
        Assert.Equal(path, e.File);
        Assert.Contains("missing", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void UnexpectedTensorIsNamed()
    {
        using var dir = new TempDir();
        var path = WriteEdited(dir, w => w.Add(new("model.transformer.blocks.9.q_proj.weight", torch.zeros(2, 2))));
        var e = Assert.Throws<CheckpointException>(() => DiffusionModel.Load(dir.Path));
        Assert.Equal("model.transformer.blocks.9.q_proj.weight", e.Tensor);
        Assert.Equal(path, e.File);
        Assert.Contains("unexpected", e.Message);
    }

    [Fact]
    public void MisShapedTensorIsNamedWithBothShapes()
    {
        using var dir = new TempDir();
        var path = WriteEdited(dir, w =>
        {
            var i = w.FindIndex(kv => kv.Key == Weight);
            w[i] = new(Weight, torch.zeros(32, 31));
        });
        var e = Assert.Throws<CheckpointException>(() => DiffusionModel.Load(dir.Path));
        Assert.Equal(Weight, e.Tensor);
        Assert.Equal(path, e.File);
        Assert.Contains("[32, 31]", e.Message);
        Assert.Contains("[32, 32]", e.Message);
    }

    [Fact]
    public void IntegerWeightIsRefused()
    {
        using var dir = new TempDir();
        WriteEdited(dir, w =>
        {
            var i = w.FindIndex(kv => kv.Key == Weight);
            w[i] = new(Weight, torch.zeros([32, 32], ScalarType.Int32));
        });
        var e = Assert.Throws<CheckpointException>(() => DiffusionModel.Load(dir.Path));
        Assert.Equal(Weight, e.Tensor);
        Assert.Contains("I32", e.Message);
    }

    [Fact]
    public void NoWeightsAtAll()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream);
        File.Delete(dir.File("model.safetensors"));
        var e = Assert.Throws<CheckpointException>(() => DiffusionModel.Load(dir.Path));
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void IndexNamingAMissingShard()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream, options: new RandomCheckpointOptions { Shards = 2 });
        File.Delete(dir.File("model-00002-of-00002.safetensors"));
        var e = Assert.Throws<CheckpointException>(() => DiffusionModel.Load(dir.Path));
        Assert.Equal(dir.File("model.safetensors.index.json"), e.File);
        Assert.Contains("model-00002-of-00002.safetensors", e.Message);
        Assert.NotNull(e.Tensor);
    }

    [Fact]
    public void IndexAndShardDisagree()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream, options: new RandomCheckpointOptions { Shards = 2 });
        var index = dir.File("model.safetensors.index.json");
        // Move one tensor to the other shard in the index only.
        var text = File.ReadAllText(index).Replace("\"lm_head.weight\": \"model-00002-of-00002.safetensors\"", "\"lm_head.weight\": \"model-00001-of-00002.safetensors\"");
        File.WriteAllText(index, text);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsReader.OpenDirectory(dir.Path));
        Assert.Equal("lm_head.weight", e.Tensor);
    }

    [Fact]
    public void IndexShardOutsideTheDirectoryIsRefused()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
        var e = Assert.Throws<CheckpointException>(() => SafetensorsReader.OpenDirectory(dir.Path));
        Assert.Equal("a", e.Tensor);
        Assert.Contains("plain file name", e.Message);
    }

    // ---- hostile safetensors headers ----

    private static string Raw(TempDir dir, string header, int dataBytes, ulong? claimedLength = null, int? truncateTo = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claimedLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        var path = dir.File("x.safetensors");
        File.WriteAllBytes(path, truncateTo is { } n ? bytes[..n] : bytes);
        return path;
    }

    private static CheckpointException Fails(string path)
    {
        var e = Assert.Throws<CheckpointException>(() => SafetensorsReader.Open(path));
        Assert.Equal(path, e.File);
        Assert.StartsWith(path + ": ", e.Message);
        return e;
    }

    [Fact]
    public void ValidRawFileReads()
    {
        using var dir = new TempDir();
        var path = Raw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
        using var t = SafetensorsReader.Open(path).Read("a");
        Assert.Equal(new long[] { 2 }, t.shape);
    }

    [Fact]
    public void HeaderLengthBeyondTheFile()
    {
        using var dir = new TempDir();
        Assert.Contains("past the end", Fails(Raw(dir, "{}", 0, claimedLength: 5000)).Message);
    }

    [Fact]
    public void AbsurdHeaderLengthIsRefusedBeforeAllocating()
    {
        using var dir = new TempDir();
        Assert.Contains("limit", Fails(Raw(dir, "{}", 0, claimedLength: ulong.MaxValue - 3)).Message);
    }

    [Fact]
    public void FileShorterThanTheLengthPrefix()
    {
        using var dir = new TempDir();
        var path = dir.File("x.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Contains("truncated", Fails(path).Message);
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("[1, 2, 3]")]
    [InlineData("{\"a\": 5}")]
    public void HeaderThatIsNotATensorTable(string header)
    {
        using var dir = new TempDir();
        Fails(Raw(dir, header, 0));
    }

    [Fact]
    public void HeaderWithInvalidUtf8()
    {
        using var dir = new TempDir();
        var path = Raw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
        var bytes = File.ReadAllBytes(path);
        bytes[8 + 2] = 0xF4; // inside the tensor name
        File.WriteAllBytes(path, bytes);
        Assert.Contains("UTF-8", Fails(path).Message);
    }

    [Fact]
    public void OffsetsOutsideTheDataRegion()
    {
        using var dir = new TempDir();
        var e = Fails(Raw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8));
        Assert.Equal("a", e.Tensor);
        Assert.Contains("past the data region", e.Message);
    }

    [Fact]
    public void TruncatedFileIsReportedForTheTensorThatNoLongerFits()
    {
        using var dir = new TempDir();
        var header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
        var full = 8 + Encoding.UTF8.GetByteCount(header) + 16;
        var e = Fails(Raw(dir, header, 16, truncateTo: full - 3));
        Assert.Equal("b", e.Tensor);
    }

    [Fact]
    public void OverlappingTensors()
    {
        using var dir = new TempDir();
        var e = Fails(Raw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12));
        Assert.Equal("b", e.Tensor);
        Assert.Contains("overlaps", e.Message);
    }

    [Fact]
    public void ShapeTimesDTypeNotMatchingTheByteRange()
    {
        using var dir = new TempDir();
        var e = Fails(Raw(dir, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8));
        Assert.Equal("a", e.Tensor);
        Assert.Contains("needs 6 bytes", e.Message);
    }

    [Fact]
    public void OverflowingShape()
    {
        using var dir = new TempDir();
        var e = Fails(Raw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8));
        Assert.Contains("overflows", e.Message);
    }

    [Fact]
    public void UnknownDType()
    {
        using var dir = new TempDir();
        var e = Fails(Raw(dir, "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8));
        Assert.Equal("a", e.Tensor);
        Assert.Contains("F8_E4M3", e.Message);
    }

    [Fact]
    public void DuplicateNames()
    {
        using var dir = new TempDir();
        var e = Fails(Raw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8));
        Assert.Equal("a", e.Tensor);
        Assert.Contains("twice", e.Message);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}")]
    [InlineData("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}")]
    public void MalformedEntries(string header)
    {
        using var dir = new TempDir();
        Assert.Equal("a", Fails(Raw(dir, header, 8)).Tensor);
    }
}
