#include "store/zip.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace alto {

namespace fs = std::filesystem;

bool IsSafeRelativePath(std::string_view rel) {
  if (rel.empty() || rel.front() == '/') return false;
  int depth = 0;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    std::string_view part =
        rel.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part == "..") {
      if (--depth < 0) return false;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return rel.find('\0') == std::string_view::npos;
}

namespace {

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

Error BadZip(const std::string& why) {
  return MakeError(Errc::kInvalidArgument, "Could not unzip uploaded file: " + why);
}

// A symlink at entry path `link` pointing at `target` stays inside the package root.
bool SymlinkStaysInside(std::string_view link, std::string_view target) {
  if (target.empty() || target.front() == '/') return false;
  std::string dir(link);
  size_t slash = dir.rfind('/');
  dir = slash == std::string::npos ? "" : dir.substr(0, slash + 1);
  return IsSafeRelativePath(dir + std::string(target));
}

Status WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return SysError("write");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

}  // namespace

Status ExtractZip(std::string_view zip, const fs::path& dest, const ExtractLimits& limits) {
  std::unique_ptr<archive, ArchiveReadDeleter> ar(archive_read_new());
  archive_read_support_format_zip(ar.get());
  if (archive_read_open_memory(ar.get(), zip.data(), zip.size()) != ARCHIVE_OK) {
    return BadZip(archive_error_string(ar.get()) ? archive_error_string(ar.get())
                                                 : "not a zip file");
  }
  uint64_t total = 0;
  uint64_t entries = 0;
  std::vector<fs::path> links;
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(ar.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      const char* e = archive_error_string(ar.get());
      return BadZip(e ? e : "corrupt archive");
    }
    if (++entries > limits.max_entries) return BadZip("too many entries");
    const char* name_c = archive_entry_pathname(entry);
    std::string name = name_c ? name_c : "";
    if (!IsSafeRelativePath(name))
      return BadZip("entry '" + name + "' has an absolute path or '..'");
    if (archive_entry_hardlink(entry)) return BadZip("entry '" + name + "' is a hard link");
    fs::path out = dest / name;
    std::error_code ec;
    auto type = archive_entry_filetype(entry);
    if (type == AE_IFDIR) {
      fs::create_directories(out, ec);
      if (ec) return SysError("mkdir " + out.string(), ec.value());
      ::chmod(out.c_str(), 0755);
      continue;
    }
    fs::create_directories(out.parent_path(), ec);
    if (ec) return SysError("mkdir " + out.parent_path().string(), ec.value());
    // Parents must be real directories inside dest (a symlinked parent would redirect writes).
    for (fs::path p = out.parent_path(); p != dest && p.has_relative_path(); p = p.parent_path()) {
      if (fs::is_symlink(p)) return BadZip("entry '" + name + "' is written through a symlink");
    }
    if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      if (!target || !SymlinkStaysInside(name, target)) {
        return BadZip("symlink '" + name + "' points outside the package");
      }
      if (::symlink(target, out.c_str()) != 0) return SysError("symlink " + out.string());
      links.push_back(out);
      continue;
    }
    if (type != AE_IFREG && type != 0) return BadZip("entry '" + name + "' is not a regular file");
    mode_t mode = (archive_entry_perm(entry) & 0111) ? 0755 : 0644;
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
      if (errno == EEXIST) return BadZip("duplicate entry '" + name + "'");
      return SysError("create " + out.string());
    }
    Status st;
    const void* buf;
    size_t size;
    la_int64_t offset;
    for (;;) {
      int r = archive_read_data_block(ar.get(), &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK) {
        st = BadZip(
            "entry '" + name + "': " +
            (archive_error_string(ar.get()) ? archive_error_string(ar.get()) : "read error"));
        break;
      }
      total += size;
      if (total > limits.max_total_bytes) {
        st = MakeError(Errc::kInvalidArgument, "Unzipped size must be smaller than " +
                                                   std::to_string(limits.max_total_bytes) +
                                                   " bytes");
        break;
      }
      if (::lseek(fd, offset, SEEK_SET) < 0) {
        st = SysError("seek");
        break;
      }
      st = WriteAll(fd, buf, size);
      if (!st) break;
    }
    ::fchmod(fd, mode);
    ::close(fd);
    if (!st) return st;
  }
  // Each target was checked lexically, but a target may climb through another symlink of the
  // package (d/up -> .., then l -> d/up/..): resolved on disk, l is dest's parent. Only the
  // extracted tree can tell, whatever the entries' order, so every link is resolved once more.
  std::error_code ec;
  const fs::path root = fs::canonical(dest, ec);
  if (ec) return SysError("resolve " + dest.string(), ec.value());
  for (const auto& link : links) {
    fs::path resolved = fs::weakly_canonical(link, ec);
    if (ec) return BadZip("symlink '" + link.lexically_relative(dest).string() + "' loops");
    fs::path rel = resolved.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..") {
      return BadZip("symlink '" + link.lexically_relative(dest).string() +
                    "' points outside the package");
    }
  }
  return {};
}

Result<std::string> ZipDirectory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return MakeError(Errc::kInvalidArgument, dir.string() + " is not a directory");
  std::unique_ptr<archive, ArchiveWriteDeleter> aw(archive_write_new());
  archive_write_set_format_zip(aw.get());
  std::string out;
  auto write_cb = [](archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  archive_write_set_bytes_in_last_block(aw.get(), 1);
  if (archive_write_open(aw.get(), &out, nullptr, write_cb, nullptr) != ARCHIVE_OK) {
    return MakeError(Errc::kInternal, "zip: cannot open writer");
  }
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    paths.push_back(it->path());
  }
  if (ec) return SysError("walk " + dir.string(), ec.value());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    std::string rel = fs::relative(p, dir).generic_string();
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return SysError("stat " + p.string());
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                               archive_entry_free);
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_mtime(e.get(), st.st_mtime, 0);
    std::string data;
    if (S_ISDIR(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
      archive_entry_set_perm(e.get(), 0755);
    } else if (S_ISLNK(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_perm(e.get(), 0777);
      archive_entry_set_symlink(e.get(), fs::read_symlink(p).c_str());
    } else if (S_ISREG(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_perm(e.get(), (st.st_mode & 0111) ? 0755 : 0644);
      int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return SysError("open " + p.string());
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
      ::close(fd);
      if (n < 0) return SysError("read " + p.string());
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    } else {
      continue;  // sockets, fifos, devices have no place in a package
    }
    if (archive_write_header(aw.get(), e.get()) != ARCHIVE_OK) {
      return MakeError(Errc::kInternal, std::string("zip: ") + archive_error_string(aw.get()));
    }
    if (!data.empty() && archive_write_data(aw.get(), data.data(), data.size()) < 0) {
      return MakeError(Errc::kInternal, std::string("zip: ") + archive_error_string(aw.get()));
    }
  }
  if (archive_write_close(aw.get()) != ARCHIVE_OK)
    return MakeError(Errc::kInternal, "zip: close failed");
  return out;
}

}  // namespace alto
